"""A chat model on an Azure OpenAI deployment answering in JSON of a given schema (structured output), through the
`openai` SDK's `AzureOpenAI` client.

The client, its identity handling and its retries are the embedder's (shared/adapters/azure_openai_client.py): the
SDK retries 429 (waiting what Retry-After asks, up to 120 s), 5xx, 408/409, timeouts and connection errors with
exponential backoff; what still fails after them is a `TransientError`. An answer that is not one JSON object, or
that stopped at the output cap (`finish_reason` "length": its JSON is cut), is an error of its own
(`llm.bad_response`, `llm.truncated`) rather than something half-read.

Each call is an OpenTelemetry span named and attributed per the GenAI semantic conventions ("chat {model}",
`gen_ai.*`); with only the API installed (requirements.txt) the tracer is a no-op until telemetry is configured.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import openai
from opentelemetry import trace

from shared.adapters.azure_openai_client import ErrorCodes, message, open_client, translated_errors
from shared.domain import Reason
from shared.domain.errors import PermanentError, TransientError
from shared.ports import ChatAnswer
from shared.telemetry.names import SCOPE, Attr, Span

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

CHAT_ERRORS = ErrorCodes(
    throttled=Reason.LLM_THROTTLED,
    access_denied=Reason.LLM_ACCESS_DENIED,
    unavailable=Reason.LLM_UNAVAILABLE,
    refused=Reason.LLM_REFUSED,
    bad_response=Reason.LLM_BAD_RESPONSE,
)
# GenAI semantic conventions (opentelemetry.io/docs/specs/semconv/gen-ai/): the provider is named both ways, the
# current `gen_ai.provider.name` and the older `gen_ai.system` that Azure Monitor's views still read.
PROVIDER = "azure.ai.openai"
SYSTEM = "az.ai.openai"
_tracer = trace.get_tracer(SCOPE)


class AzureOpenAIChat:
    """`ChatModel` backed by one Azure OpenAI chat deployment (gpt-4o, gpt-4o-mini, gpt-4.1, ...)."""

    def __init__(
        self,
        client: openai.OpenAI,
        deployment: str,
        *,
        temperature: float | None = None,
        on_close: Callable[[], None] | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        """`temperature`: sent only when set; reasoning models refuse any but their default. `tracer`: the
        global provider's unless given (a test's own)."""
        self._client = client
        self._tracer = tracer or _tracer
        self.name = deployment
        self.temperature = temperature
        self._on_close = on_close
        self._server = urlsplit(str(client.base_url)).hostname or ""

    @classmethod
    def from_connection_setting(
        cls,
        name: str,
        deployment: str,
        api_version: str,
        environ: Mapping[str, str] | None = None,
        *,
        max_retries: int = 4,
        timeout: float = 120.0,
        temperature: float | None = None,
        tracer: trace.Tracer | None = None,
    ) -> AzureOpenAIChat:
        """The chat model for a connection setting (e.g. `OpenAIConnection`; see `open_client` for its forms)."""
        client, close = open_client(name, api_version, environ, max_retries=max_retries, timeout=timeout)
        return cls(client, deployment, temperature=temperature, on_close=close, tracer=tracer)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    def complete_json(
        self, system: str, user: str, *, schema_name: str, schema: dict[str, Any], max_tokens: int
    ) -> ChatAnswer:
        """The model's JSON answer to `user` under `system`, held to `schema` (strict structured output)."""
        options: dict[str, Any] = {} if self.temperature is None else {"temperature": self.temperature}
        with self._tracer.start_as_current_span(f"{Span.CHAT} {self.name}", kind=trace.SpanKind.CLIENT) as span:
            span.set_attributes(
                {
                    Attr.GEN_AI_OPERATION: "chat",
                    Attr.GEN_AI_PROVIDER: PROVIDER,
                    Attr.GEN_AI_SYSTEM: SYSTEM,
                    Attr.GEN_AI_REQUEST_MODEL: self.name,
                    Attr.GEN_AI_REQUEST_MAX_TOKENS: max_tokens,
                    Attr.GEN_AI_OUTPUT_TYPE: "json",
                    "server.address": self._server,
                    **({Attr.GEN_AI_REQUEST_TEMPERATURE: self.temperature} if self.temperature is not None else {}),
                }
            )
            try:
                with translated_errors(CHAT_ERRORS, _content_filtered):
                    response = self._client.chat.completions.create(
                        model=self.name,
                        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                        response_format={
                            "type": "json_schema",
                            "json_schema": {"name": schema_name, "schema": schema, "strict": True},
                        },
                        max_completion_tokens=max_tokens,
                        **options,
                    )
                    answer = read_answer(response, self.name)
            except (TransientError, PermanentError) as error:
                span.set_attribute(Attr.ERROR_TYPE, error.reason_code)
                raise
            span.set_attributes(
                {
                    Attr.GEN_AI_RESPONSE_MODEL: answer.model,
                    Attr.GEN_AI_RESPONSE_ID: getattr(response, "id", None) or "",
                    Attr.GEN_AI_INPUT_TOKENS: answer.input_tokens,
                    Attr.GEN_AI_OUTPUT_TOKENS: answer.output_tokens,
                    Attr.GEN_AI_RESPONSE_FINISH_REASONS: (answer.finish_reason,),
                }
            )
            return answer


def read_answer(response: ChatCompletion, deployment: str) -> ChatAnswer:
    """The first choice's JSON object with its usage; an answer cut short, refused or not a JSON object is an error
    naming why (the SDK validates loosely: a missing field arrives as a missing attribute, not an error)."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise TransientError(Reason.LLM_BAD_RESPONSE, "the answer holds no choice")
    choice = choices[0]
    finish_reason = str(getattr(choice, "finish_reason", None) or "")
    content = getattr(getattr(choice, "message", None), "content", None)
    refusal = getattr(getattr(choice, "message", None), "refusal", None)
    usage = getattr(response, "usage", None)
    input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    if finish_reason == "length":
        raise PermanentError(Reason.LLM_TRUNCATED, f"the answer stopped at the output cap ({output_tokens} tokens)")
    if finish_reason == "content_filter":
        raise PermanentError(Reason.LLM_CONTENT_FILTERED, "the service's content filter stopped the answer")
    if refusal:
        raise PermanentError(Reason.LLM_REFUSED, f"the model refused: {str(refusal)[:200]}")
    if not isinstance(content, str):
        raise TransientError(Reason.LLM_BAD_RESPONSE, "the answer holds no text")
    try:
        parsed = json.loads(content)
    except ValueError as error:
        raise TransientError(Reason.LLM_BAD_RESPONSE, f"the answer is not JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise TransientError(Reason.LLM_BAD_RESPONSE, f"the answer is a JSON {type(parsed).__name__}, not an object")
    return ChatAnswer(
        content=parsed,
        model=str(getattr(response, "model", None) or deployment),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        finish_reason=finish_reason,
    )


def _content_filtered(error: openai.APIStatusError) -> PermanentError | None:
    """Azure OpenAI's 400 when its content filter stops the prompt (error code `content_filter`)."""
    body = error.body if isinstance(error.body, dict) else {}  # the SDK keeps the `error` object of the body
    if error.status_code == 400 and body.get("code") == "content_filter":
        return PermanentError(Reason.LLM_CONTENT_FILTERED, message(error))
    return None
