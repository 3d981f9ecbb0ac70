"""Communities of the entity graph (GraphRAG-style): detection, summaries, the incremental plan, the refresh.

`refresh_communities(ports)` is the entry point (refresh.py); `tributary communities` prints what it wrote
(command.py, local only: it needs rich).
"""

from shared.communities.refresh import CommunityRefresh, refresh_communities, stored_communities

__all__ = ["CommunityRefresh", "refresh_communities", "stored_communities"]
