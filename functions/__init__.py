"""Thin trigger entry points, one blueprint per area: decode the trigger, call shared/, settle."""
