"""The local Functions host (DESIGN.md §6)."""
