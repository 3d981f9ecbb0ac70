"""`tributary communities`: refresh the communities, then print them with their summaries (a table, or JSON).

Local only (rich comes with requirements-local.txt): the CLI imports it, the deployed app never does; on Azure the
bulk run calls `refresh_communities` itself.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.cli_ops import Output
from shared.communities.refresh import CommunityRefresh, refresh_communities, stored_communities
from shared.ports import Community, Ports


def run(ports: Ports, *, full: bool = False) -> tuple[CommunityRefresh, list[Community]]:
    """Refresh, then read back every community the graph holds: broadest level first, then the largest."""
    refresh = refresh_communities(ports, full=full)
    found = sorted(stored_communities(ports.graph), key=lambda c: (-c.level, -c.size, c.title, c.community_id))
    return refresh, found


def show(console: Console, refresh: CommunityRefresh, found: list[Community], output: Output, shown: int) -> None:
    """Print the run and the communities: `shown` rows of the table, every community in JSON."""
    if output is Output.JSON:
        # print(), not rich: JSON must not be wrapped or coloured
        print(json.dumps(as_json(refresh, found), ensure_ascii=False, indent=2))
        return
    console.print(table(found, shown))
    console.print(run_line(refresh))


def as_json(refresh: CommunityRefresh, found: list[Community]) -> dict[str, Any]:
    parents = {member: c.community_id for c in found if c.level > 0 for member in c.member_ids}
    return {
        "refresh": refresh.model_dump(),
        "communities": [
            {
                "id": c.community_id,
                "level": c.level,
                "size": c.size,
                "parent": parents.get(c.community_id),
                "title": c.title,
                "summary": c.summary,
                "summarizer": c.summarizer,
                "updated": c.updated,
                "members": list(c.member_ids),
            }
            for c in found
        ],
    }


def table(found: list[Community], shown: int) -> Table:
    more = f" (the first {shown} of {len(found)})" if len(found) > shown else ""
    result = Table(title=f"Communities{more}")
    result.add_column("level", justify="right")
    result.add_column("size", justify="right")
    result.add_column("id")
    result.add_column("title", overflow="fold")
    result.add_column("summary", overflow="fold")
    for community in found[:shown]:
        result.add_row(
            str(community.level), str(community.size), community.community_id[:8], community.title, community.summary
        )
    return result


def run_line(refresh: CommunityRefresh) -> str:
    detected = f"{refresh.components_changed} of {refresh.components} parts of the graph changed"
    chat = f", {refresh.chat_fallbacks} chat fallbacks" if refresh.chat_fallbacks else ""
    return (
        f"{refresh.communities} communities over {refresh.entities} entities ({detected}): {refresh.written} written, "
        f"{refresh.summarised} summarised ({refresh.summarizer}{chat}), {refresh.unchanged} unchanged, "
        f"{refresh.deleted} deleted in {refresh.seconds:.1f} s"
    )


__all__ = ["Output", "as_json", "run", "run_line", "show", "table"]
