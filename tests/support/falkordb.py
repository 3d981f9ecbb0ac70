"""FalkorDB server fixtures (filled in by the graph work)."""
