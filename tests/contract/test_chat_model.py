"""The ChatModel port's contract, and the LLM extractor's request accepted and read, run against Azure OpenAI through
the real `openai` client: on the local stand-in, and on the live service when TRIBUTARY_TEST_AZURE_OPENAI_ENDPOINT and
_CHAT_DEPLOYMENT are set (+ _KEY, else the developer's Entra login). The live run is what shows that the service
accepts the extraction schema as a strict structured-output schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.azure_openai_chat import AzureOpenAIChat
from shared.domain import Chunk
from shared.domain.ids import chunk_id
from shared.extraction.llm import LLMExtractor
from shared.extraction.rules import RuleBasedExtractor
from shared.extraction.schema import load_schema
from shared.ports import ChatModel
from tests.support.llm_answers import GazetteerModel
from tests.support.openai_standin import CHAT_DEPLOYMENT, KEY

LIVE_ENDPOINT = os.environ.get("TRIBUTARY_TEST_AZURE_OPENAI_ENDPOINT")
LIVE_DEPLOYMENT = os.environ.get("TRIBUTARY_TEST_AZURE_OPENAI_CHAT_DEPLOYMENT")
LIVE_KEY = os.environ.get("TRIBUTARY_TEST_AZURE_OPENAI_KEY")
TEXT = "Zoë Okafor, chief scientist at Brightwater Labs, moved to Lisbon in May."
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def _standin_answer(body: dict[str, Any]) -> dict[str, Any]:
    if body["response_format"]["json_schema"]["name"] == "city":
        return {"city": "Paris"}
    model = GazetteerModel(
        names={"Zoë Okafor": "Person", "Brightwater Labs": "Organization", "Lisbon": "Place"},
        relations=[("Zoë Okafor", "WORKS_FOR", "Brightwater Labs")],
    )
    return model(body)


@pytest.fixture(params=["azure_openai", "azure_openai_live"])
def chat(request: pytest.FixtureRequest) -> Iterator[ChatModel]:
    if request.param == "azure_openai":
        server = request.getfixturevalue("openai_standin")
        server.chat_responder = _standin_answer
        connection = {"OpenAIConnection": f"Endpoint={server.endpoint};Key={KEY}"}
        model = AzureOpenAIChat.from_connection_setting(
            "OpenAIConnection", CHAT_DEPLOYMENT, "2024-10-21", connection, max_retries=0
        )
    else:
        if not (LIVE_ENDPOINT and LIVE_DEPLOYMENT):
            pytest.skip(
                "the live Azure OpenAI chat run needs TRIBUTARY_TEST_AZURE_OPENAI_ENDPOINT and _CHAT_DEPLOYMENT "
                "(+ _KEY, else the Entra login)"
            )
        section = (
            {"OpenAIConnection": f"Endpoint={LIVE_ENDPOINT};Key={LIVE_KEY}"}
            if LIVE_KEY
            else {"OpenAIConnection__endpoint": LIVE_ENDPOINT}
        )
        model = AzureOpenAIChat.from_connection_setting("OpenAIConnection", LIVE_DEPLOYMENT, "2024-10-21", section)
    yield model
    model.close()


def test_the_answer_is_json_of_the_schema_with_its_usage(chat: ChatModel) -> None:
    # WHEN asked for an answer of a one-field schema
    answer = chat.complete_json(
        "Answer in JSON.", "What is the capital of France?", schema_name="city", schema=CITY, max_tokens=50
    )
    # THEN the answer holds the field, and says what it cost and why it stopped
    assert isinstance(answer.content["city"], str)
    assert "paris" in answer.content["city"].lower()
    assert answer.input_tokens > 0
    assert answer.output_tokens > 0
    assert answer.finish_reason == "stop"
    assert answer.model


def test_the_extraction_request_is_accepted_and_its_answer_read(chat: ChatModel) -> None:
    # GIVEN the LLM extractor over the chat model (no budget, no cache) and one chunk of prose
    schema = load_schema()
    extractor = LLMExtractor(chat, schema, RuleBasedExtractor(schema))
    chunk = Chunk(
        chunk_id=chunk_id("doc", "v", 0), document_id="doc", version="v", ordinal=0, text=TEXT, locator="line 1"
    )
    # WHEN the chunk is extracted
    run = extractor.extract_batch([chunk], None, 0)
    # THEN the model answered (no fallback), and found at least the person and her organisation
    assert (run.record.extractor, run.record.fallback_chunks) == (f"llm:{chat.name}", 0)
    found = {(entity.type, entity.name) for entity in run.extraction.entities}
    assert {("Person", "Zoë Okafor"), ("Organization", "Brightwater Labs")} <= found
