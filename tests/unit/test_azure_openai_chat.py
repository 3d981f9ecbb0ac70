"""The Azure OpenAI chat model driven through the real `openai` client against the local stand-in of the service:
a structured-output answer with its usage and GenAI span, the SDK's retries, and each failure's reason and kind."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.adapters.azure_openai_chat import AzureOpenAIChat
from shared.domain import PermanentError, TransientError
from tests.support.openai_standin import CHAT_DEPLOYMENT, CHAT_MODEL, KEY, OpenAIStandIn, chat_texts

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.fixture
def spans() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    """A tracer provider of the test's own (the global one stays untouched), exporting to memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter, provider
    provider.shutdown()


def chat_for(openai_standin: OpenAIStandIn, **options: Any) -> AzureOpenAIChat:
    return AzureOpenAIChat.from_connection_setting(
        "OpenAIConnection",
        options.pop("deployment", CHAT_DEPLOYMENT),
        "2024-10-21",
        {"OpenAIConnection": f"Endpoint={openai_standin.endpoint};Key={options.pop('key', KEY)}"},
        max_retries=options.pop("max_retries", 2),
        timeout=options.pop("timeout", 10.0),
        **options,
    )


def ask(chat: AzureOpenAIChat) -> Any:
    return chat.complete_json("Be brief.", "Say yes.", schema_name="yes", schema=SCHEMA, max_tokens=50)


def test_a_structured_answer_is_its_json_with_usage_and_a_genai_span(
    openai_standin: OpenAIStandIn, spans: tuple[InMemorySpanExporter, TracerProvider]
) -> None:
    # GIVEN a deployment that answers {"answer": "yes"}, and a chat model tracing to memory
    openai_standin.chat_responder = lambda body: {"answer": "yes"}
    exporter, provider = spans
    chat = chat_for(openai_standin, tracer=provider.get_tracer("test"))

    # WHEN it is asked
    answer = ask(chat)

    # THEN the answer is the parsed JSON with the model and the tokens the service reported
    assert answer.content == {"answer": "yes"}
    assert (answer.model, answer.finish_reason) == (CHAT_MODEL, "stop")
    assert answer.input_tokens > 0
    assert answer.output_tokens > 0
    # AND the request asked for strict structured output of the schema, capped, on the deployment's route
    (request,) = openai_standin.chat_requests()
    assert request.path == f"/openai/deployments/{CHAT_DEPLOYMENT}/chat/completions"
    assert request.headers["api-key"] == KEY
    assert request.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "yes", "schema": SCHEMA, "strict": True},
    }
    assert request.body["max_completion_tokens"] == 50
    assert chat_texts(request.body) == ("Be brief.", "Say yes.")
    assert "temperature" not in request.body  # reasoning models refuse any but their default
    # AND one client span named and attributed per the GenAI semantic conventions
    (span,) = exporter.get_finished_spans()
    assert span.name == f"chat {CHAT_DEPLOYMENT}"
    assert span.attributes is not None
    attributes = dict(span.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert attributes["gen_ai.system"] == "az.ai.openai"
    assert attributes["gen_ai.request.model"] == CHAT_DEPLOYMENT
    assert attributes["gen_ai.response.model"] == CHAT_MODEL
    assert attributes["gen_ai.usage.input_tokens"] == answer.input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == answer.output_tokens
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_a_failure_is_on_the_span_with_its_reason(
    openai_standin: OpenAIStandIn, spans: tuple[InMemorySpanExporter, TracerProvider]
) -> None:
    exporter, provider = spans
    openai_standin.fail_next(1, 400, message="bad request")
    with pytest.raises(PermanentError):
        ask(chat_for(openai_standin, tracer=provider.get_tracer("test")))
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "llm.refused"
    assert not span.status.is_ok


def test_a_429_is_retried_after_the_wait_it_asks_for(openai_standin: OpenAIStandIn) -> None:
    # GIVEN a throttled first answer that asks for a 1 s wait
    openai_standin.chat_responder = lambda body: {"answer": "yes"}
    openai_standin.fail_next(1, 429, retry_after="1")
    started = time.monotonic()
    # WHEN asked THEN it succeeds on the retry, after at least that wait
    assert ask(chat_for(openai_standin)).content == {"answer": "yes"}
    assert time.monotonic() - started >= 1.0
    assert len(openai_standin.chat_requests()) == 2


def test_throttling_past_the_retries_is_transient_llm_throttled(openai_standin: OpenAIStandIn) -> None:
    openai_standin.fail_next(3, 429, retry_after="0.1")
    with pytest.raises(TransientError) as failure:
        ask(chat_for(openai_standin, max_retries=2))
    assert failure.value.reason_code == "llm.throttled"
    assert len(openai_standin.chat_requests()) == 3


def test_a_500_is_retried_and_past_the_retries_is_transient_llm_unavailable(openai_standin: OpenAIStandIn) -> None:
    openai_standin.chat_responder = lambda body: {"answer": "yes"}
    openai_standin.fail_next(1, 500)
    assert ask(chat_for(openai_standin)).content == {"answer": "yes"}
    openai_standin.fail_next(2, 503)
    with pytest.raises(TransientError) as failure:
        ask(chat_for(openai_standin, max_retries=1))
    assert failure.value.reason_code == "llm.unavailable"


def test_a_timeout_is_transient_llm_unavailable(openai_standin: OpenAIStandIn) -> None:
    openai_standin.stall_next(1.5)
    with pytest.raises(TransientError) as failure:
        ask(chat_for(openai_standin, max_retries=0, timeout=0.5))
    assert failure.value.reason_code == "llm.unavailable"


def completion(content: Any, finish_reason: str = "stop") -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": CHAT_MODEL,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
        }
    ).encode()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html>Bad gateway</html>", "text/html"),
        (b"{not json", "application/json"),
        (b'{"object": "chat.completion", "choices": []}', "application/json"),
        (completion("yes, of course"), "application/json"),
        (completion('["a", "list"]'), "application/json"),
        (completion(None), "application/json"),
    ],
    ids=["html", "broken-json", "no-choice", "content-not-json", "content-not-object", "no-content"],
)
def test_a_malformed_answer_is_transient_llm_bad_response(
    openai_standin: OpenAIStandIn, body: bytes, content_type: str
) -> None:
    openai_standin.answer_next(body, content_type)
    with pytest.raises(TransientError) as failure:
        ask(chat_for(openai_standin, max_retries=0))
    assert failure.value.reason_code == "llm.bad_response"


def test_an_answer_cut_at_the_output_cap_is_permanent_llm_truncated(openai_standin: OpenAIStandIn) -> None:
    # GIVEN an answer that stopped at the cap, its JSON cut
    openai_standin.chat_responder = lambda body: ('{"answer": "ye', "length")
    # WHEN asked THEN it is not read half-way: llm.truncated, which asking again the same way cannot mend
    with pytest.raises(PermanentError) as failure:
        ask(chat_for(openai_standin))
    assert failure.value.reason_code == "llm.truncated"
    assert len(openai_standin.chat_requests()) == 1


def test_the_content_filter_is_permanent_llm_content_filtered(openai_standin: OpenAIStandIn) -> None:
    # GIVEN Azure's 400 for a prompt its content filter stopped, then an answer the filter cut
    body = {"error": {"message": "The response was filtered", "code": "content_filter", "status": 400}}
    openai_standin.answer_next(json.dumps(body).encode(), status=400)
    with pytest.raises(PermanentError) as prompt_filtered:
        ask(chat_for(openai_standin))
    openai_standin.chat_responder = lambda body: ("{}", "content_filter")
    with pytest.raises(PermanentError) as answer_filtered:
        ask(chat_for(openai_standin))
    # THEN both say so
    assert prompt_filtered.value.reason_code == answer_filtered.value.reason_code == "llm.content_filtered"


def test_a_wrong_key_is_permanent_llm_access_denied(openai_standin: OpenAIStandIn) -> None:
    with pytest.raises(PermanentError) as refused:
        ask(chat_for(openai_standin, key="wrong"))
    assert refused.value.reason_code == "llm.access_denied"


def test_an_unknown_deployment_is_permanent_llm_refused(openai_standin: OpenAIStandIn) -> None:
    with pytest.raises(PermanentError) as refused:
        ask(chat_for(openai_standin, deployment="no-such-deployment"))
    assert refused.value.reason_code == "llm.refused"
