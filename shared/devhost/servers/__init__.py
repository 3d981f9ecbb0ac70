"""The servers the local host starts for the embedded default: Azurite, FalkorDB (and their shared launcher)."""
