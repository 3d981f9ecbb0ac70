"""A title and a summary per community: extractive offline, or by the chat model when one is configured.

Both start from the same view of the community: its most central entities (weighted degree over the relations
inside it), its strongest relations (most supporting chunks) and the evidence sentences of those. The extractive
summary states them; the chat model is given them and answers in JSON against `SUMMARY_SCHEMA`. A chat answer that
fails (service down, refused, not the schema) falls back to the extractive summary for that community, and after a
service failure the rest of the run stays extractive rather than waiting on retries community after community.
The summarizer is recorded on each community, so the next run asks the model again for those that fell back.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.communities.graph import Link, Node
from shared.domain import PermanentError, TransientError
from shared.ports import ChatModel, GraphRelation

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive/1"  # bump the number when the text changes: every summary is then written again
PROMPT_VERSION = "1"  # the same for the chat prompt (the summarizer is "chat:<model>/<PROMPT_VERSION>")
TOP_ENTITIES = 10
TOP_RELATIONS = 5
EVIDENCE_RELATIONS = 3  # relations whose evidence sentence is read (and the first one found is quoted)
CHAT_ENTITIES = 30  # what the chat model is shown
CHAT_RELATIONS = 30
EVIDENCE_CHARS = 300


TITLE_CHARS = 200


class CommunityReport(BaseModel):
    """What the chat model answers, validated (an empty field is a malformed answer)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)


# The schema sent with the request, written out rather than generated from the model: structured output in strict
# mode takes every property required, no additional ones, and no length keywords (the model's own generated schema
# carries `title` annotations and would carry any constraint added to it).
SUMMARY_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "a short name for the community, a few words"},
        "summary": {"type": "string", "description": "what the entities have in common and how they relate"},
    },
    "required": ["title", "summary"],
    "additionalProperties": False,
}
SYSTEM_PROMPT = (
    "You summarise a community of entities detected in a knowledge graph built from documents. You are given its "
    "most connected entities (name, type, number of links inside the community) and its strongest relations, with "
    "an evidence sentence where one was found. Answer with a short title (a few words naming what holds the group "
    "together) and a summary of two to four sentences stating only what the data shows. Do not invent facts."
)


@dataclass(frozen=True)
class CommunityView:
    """What a summary is made from."""

    size: int
    types: tuple[tuple[str, int], ...]  # entity type → count, most frequent first
    entities: tuple[tuple[str, str, int], ...]  # (name, type, weighted degree inside), most central first
    relations: tuple[tuple[Link, str, str], ...]  # (relation, source name, target name), strongest first
    evidence: str | None = None


@dataclass
class Usage:
    summarised: int = 0
    chat_answers: int = 0
    chat_fallbacks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    chat_down: bool = field(default=False, repr=False)  # a service failure: no more calls this run


def view(entity_ids: Sequence[str], links: Iterable[Link], nodes: dict[str, Node], limit: int) -> CommunityView:
    """The community's `limit` most central entities and strongest relations (`links`: those inside it)."""
    inner = list(links)
    degree: Counter[str] = Counter()
    for link in inner:
        degree[link.source_id] += link.weight
        degree[link.target_id] += link.weight
    ranked = sorted(entity_ids, key=lambda e: (-degree[e], nodes[e].name.casefold(), e))
    strongest = sorted(inner, key=lambda link: (-link.weight, link.relation_id))[:limit]
    types = Counter(nodes[e].type for e in entity_ids)
    return CommunityView(
        size=len(entity_ids),
        types=tuple(sorted(types.items(), key=lambda item: (-item[1], item[0]))),
        entities=tuple((nodes[e].name, nodes[e].type, degree[e]) for e in ranked[:limit]),
        relations=tuple((link, nodes[link.source_id].name, nodes[link.target_id].name) for link in strongest),
    )


def evidence_wanted(community: CommunityView) -> list[GraphRelation]:
    """The relations whose evidence the summary quotes from (the strongest few)."""
    return [
        GraphRelation(
            relation_id=link.relation_id,
            type=link.type,
            source_id=link.source_id,
            target_id=link.target_id,
            weight=link.weight,
        )
        for link, _, _ in community.relations[:EVIDENCE_RELATIONS]
    ]


def with_evidence(community: CommunityView, evidence: dict[str, str]) -> CommunityView:
    """The view with the evidence of its strongest relation that has one."""
    for link, _, _ in community.relations[:EVIDENCE_RELATIONS]:
        if link.relation_id in evidence:
            return CommunityView(
                community.size,
                community.types,
                community.entities,
                community.relations,
                _trim(evidence[link.relation_id]),
            )
    return community


def extractive(community: CommunityView) -> tuple[str, str]:
    """(title, summary) stating the view: deterministic, so an unchanged community gets the same text."""
    names = [name for name, _, _ in community.entities]
    title = f"{', '.join(names[:3])} and {community.size - 3} more" if community.size > 3 else _join(names)
    title = _trim(title, TITLE_CHARS)
    kinds = ", ".join(f"{count} {kind}" for kind, count in community.types)
    parts = [f"{community.size} entities ({kinds})."]
    central = [
        f"{name} ({kind}, {links} link{'s' if links > 1 else ''})"
        for name, kind, links in community.entities[:TOP_ENTITIES]
        if links
    ]
    if central:
        parts.append(f"Most connected: {', '.join(central[:5])}.")
    if community.relations:
        strongest = "; ".join(
            f"{source} {link.type} {target}" + (f" ({link.weight} chunks)" if link.weight > 1 else "")
            for link, source, target in community.relations[:TOP_RELATIONS]
        )
        parts.append(f"Strongest relations: {strongest}.")
    if community.evidence:
        parts.append(f"Evidence: “{community.evidence}”")
    return title, " ".join(parts)


def chat_summarizer(chat: ChatModel) -> str:
    return f"chat:{chat.name}/{PROMPT_VERSION}"


def summarise(community: CommunityView, chat: ChatModel | None, max_tokens: int, usage: Usage) -> tuple[str, str, str]:
    """(title, summary, summarizer): by the chat model when there is one and it answers, else extractive."""
    usage.summarised += 1
    if chat is not None and not usage.chat_down:
        try:
            answer = chat.complete_json(
                SYSTEM_PROMPT,
                chat_input(community),
                schema_name="community_summary",
                schema=SUMMARY_SCHEMA,
                max_tokens=max_tokens,
            )
            usage.input_tokens += answer.input_tokens
            usage.output_tokens += answer.output_tokens
            report = CommunityReport.model_validate(answer.content)
            usage.chat_answers += 1
            return _trim(report.title, TITLE_CHARS), report.summary.strip(), chat_summarizer(chat)
        except TransientError as error:
            usage.chat_down = True
            log.warning("community summaries: the chat model is unavailable, extractive for the rest: %s", error)
        except (PermanentError, ValidationError) as error:
            log.warning("community summaries: chat answer refused or malformed, extractive instead: %s", error)
        usage.chat_fallbacks += 1
    title, summary = extractive(community)
    return title, summary, EXTRACTIVE


def chat_input(community: CommunityView) -> str:
    """The user message: the view as JSON (names and sentences are data, never instructions)."""
    return json.dumps(
        {
            "size": community.size,
            "entity_types": dict(community.types),
            "entities": [
                {"name": name, "type": kind, "links": links} for name, kind, links in community.entities[:CHAT_ENTITIES]
            ],
            "relations": [
                {"source": source, "type": link.type, "target": target, "chunks": link.weight}
                for link, source, target in community.relations[:CHAT_RELATIONS]
            ],
            "evidence": community.evidence,
        },
        ensure_ascii=False,
    )


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


def _trim(text: str, limit: int = EVIDENCE_CHARS) -> str:
    """The text on one line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "EXTRACTIVE",
    "SUMMARY_SCHEMA",
    "CommunityReport",
    "CommunityView",
    "Usage",
    "chat_input",
    "chat_summarizer",
    "evidence_wanted",
    "extractive",
    "summarise",
    "view",
    "with_evidence",
]
