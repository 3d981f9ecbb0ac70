"""Answers the OpenAI stand-in gives the LLM extractor's requests: a model that knows some names.

`GazetteerModel` reads the chunks out of the request (the user message is JSON: `{"chunks": [{"chunk", "text"}]}`)
and answers, per chunk, the known names the text holds and the known relations whose two ends it holds, in the
answer schema the extractor asked for. Extra entries (unknown types, dangling relations) can be added per answer
to test what the extractor drops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.support.openai_standin import chat_texts


def request_chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks a chat request asked about."""
    _, user = chat_texts(body)
    return list(json.loads(user)["chunks"])


@dataclass
class GazetteerModel:
    names: dict[str, str]  # name -> entity type
    relations: list[tuple[str, str, str]] = field(default_factory=list)  # (source name, type, target name)
    extra_entities: list[dict[str, str]] = field(default_factory=list)  # added to every chunk's answer
    extra_relations: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        answers = []
        for chunk in request_chunks(body):
            text = chunk["text"]
            entities = [{"name": name, "type": type_} for name, type_ in self.names.items() if name in text]
            relations = [
                {
                    "source": source,
                    "source_type": self.names[source],
                    "type": relation,
                    "target": target,
                    "target_type": self.names[target],
                }
                for source, relation, target in self.relations
                if source in text and target in text
            ]
            answers.append(
                {
                    "chunk": chunk["chunk"],
                    "entities": entities + self.extra_entities,
                    "relations": relations + self.extra_relations,
                }
            )
        return {"chunks": answers}
