"""Embeddings from an Azure OpenAI deployment, through the `openai` SDK's `AzureOpenAI` client.

Requests stay within the service's per-request limits (the numbers below); an input the model cannot take is
refused before anything is sent (`embed.input_too_long`), so one long chunk never costs a request that fails
whole. The client, its retries (the SDK's own, honouring Retry-After) and the translation of its errors are
shared with the chat model (shared/adapters/azure_openai_client.py): what is still failing when the retries are
spent becomes a `TransientError` (`embed.throttled`, `embed.unavailable`), so the stage's message is redelivered
(and dead-lettered after the queue's delivery cap); a refusal becomes a `PermanentError`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import openai

from shared.adapters.azure_openai_client import ErrorCodes, message, open_client
from shared.adapters.azure_openai_client import translated_errors as shared_translated_errors
from shared.domain import Reason
from shared.domain.errors import PermanentError, TransientError
from shared.tokens import Encoding, TokenCounter, token_counter

if TYPE_CHECKING:
    from openai.types import CreateEmbeddingResponse

# Per-request limits of the embeddings API. Azure OpenAI, "Learn how to generate embeddings with Azure OpenAI",
# Best practices (learn.microsoft.com/azure/ai-services/openai/how-to/embeddings): "the max array size is 2048";
# "the maximum length of input text for our latest embedding models is 8,192 tokens" — the models table gives
# 8,191 for text-embedding-3-small/-large and ada-002, the number the service enforces. The `openai` SDK's own
# docstring of `embeddings.create` (openai 3.57): "all embedding models enforce a maximum of 300,000 tokens summed
# across all inputs in a single request".
MAX_INPUTS_PER_REQUEST = 2048
MAX_TOKENS_PER_INPUT = 8191
MAX_TOKENS_PER_REQUEST = 300_000
# text-embedding-3-* and ada-002 all tokenize with cl100k_base (counted as chunking counts it: shared/tokens.py).
ENCODING: Encoding = "cl100k_base"


class AzureOpenAIEmbedder:
    """`Embedder` backed by one Azure OpenAI embedding deployment (text-embedding-3-*: `dimensions` is sent)."""

    def __init__(
        self,
        client: openai.OpenAI,
        deployment: str,
        dimension: int,
        *,
        batch_inputs: int = MAX_INPUTS_PER_REQUEST,
        batch_tokens: int = MAX_TOKENS_PER_REQUEST,
        max_input_tokens: int = MAX_TOKENS_PER_INPUT,
        count_tokens: TokenCounter | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if not 1 <= batch_inputs <= MAX_INPUTS_PER_REQUEST:
            raise ValueError(f"batch_inputs must be between 1 and {MAX_INPUTS_PER_REQUEST}, not {batch_inputs}")
        if not max_input_tokens <= batch_tokens <= MAX_TOKENS_PER_REQUEST:
            raise ValueError(f"batch_tokens must be between {max_input_tokens} and {MAX_TOKENS_PER_REQUEST}")
        self._client = client
        self.deployment = deployment
        self.dimension = dimension
        self.name = f"azure-openai-{deployment}-{dimension}"
        self.batch_inputs = batch_inputs
        self.batch_tokens = batch_tokens
        self.max_input_tokens = max_input_tokens
        self._count_tokens = count_tokens or token_counter(ENCODING)
        self._on_close = on_close

    @classmethod
    def from_connection_setting(
        cls,
        name: str,
        deployment: str,
        api_version: str,
        dimension: int,
        environ: Mapping[str, str] | None = None,
        *,
        max_retries: int = 4,
        timeout: float = 60.0,
        **options: Any,
    ) -> AzureOpenAIEmbedder:
        """The embedder for a connection setting (e.g. `OpenAIConnection`), read as the Functions host reads one.

        A value is a connection string `Endpoint=https://<resource>.openai.azure.com;Key=<key>`. Otherwise
        `<name>__endpoint` names the resource, reached with a token credential (`__credential=managedidentity` +
        `__clientId`, or `__tenantId` + `__clientId` + `__clientSecret`, else DefaultAzureCredential); the identity
        needs the "Cognitive Services OpenAI User" role.
        """
        client, close = open_client(name, api_version, environ, max_retries=max_retries, timeout=timeout)
        return cls(client, deployment, dimension, on_close=close, **options)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; a blank text gets the zero vector (the service refuses empty input)."""
        counts = [self._count_tokens(text) if text.strip() else 0 for text in texts]
        for position, count in enumerate(counts):
            if count > self.max_input_tokens:
                raise PermanentError(
                    Reason.EMBED_INPUT_TOO_LONG,
                    f"text {position} of the batch has {count} tokens; {self.deployment} takes at most "
                    f"{self.max_input_tokens}",
                )
        vectors = [[0.0] * self.dimension for _ in texts]
        sendable = [position for position, count in enumerate(counts) if count > 0]
        for batch in request_batches(sendable, counts, self.batch_inputs, self.batch_tokens):
            with translated_errors():
                response = self._client.embeddings.create(
                    input=[texts[position] for position in batch], model=self.deployment, dimensions=self.dimension
                )
            for position, vector in zip(batch, checked_vectors(response, len(batch), self.dimension), strict=True):
                vectors[position] = vector
        return vectors


def request_batches(
    positions: Sequence[int], counts: Sequence[int], max_inputs: int, max_tokens: int
) -> Iterator[list[int]]:
    """Consecutive runs of `positions` with at most `max_inputs` texts and `max_tokens` tokens (`counts`) each."""
    batch: list[int] = []
    tokens = 0
    for position in positions:
        if batch and (len(batch) == max_inputs or tokens + counts[position] > max_tokens):
            yield batch
            batch, tokens = [], 0
        batch.append(position)
        tokens += counts[position]
    if batch:
        yield batch


def checked_vectors(response: CreateEmbeddingResponse, expected: int, dimension: int) -> list[list[float]]:
    """The response's vectors in input order; a body that is not one finite vector per input is `embed.bad_response`
    (the SDK validates loosely: a missing field arrives as a missing attribute, not an error)."""
    data = getattr(response, "data", None)
    if not isinstance(data, list) or len(data) != expected:
        count = len(data) if isinstance(data, list) else "no"
        raise TransientError(Reason.EMBED_BAD_RESPONSE, f"{count} embeddings for {expected} inputs")
    by_index: dict[int, list[float]] = {}
    for item in data:
        index, vector = getattr(item, "index", None), getattr(item, "embedding", None)
        if not isinstance(index, int) or not 0 <= index < expected or index in by_index:
            raise TransientError(Reason.EMBED_BAD_RESPONSE, f"embedding index {index!r} for {expected} inputs")
        if not isinstance(vector, list) or len(vector) != dimension:
            size = len(vector) if isinstance(vector, list) else type(vector).__name__
            raise TransientError(Reason.EMBED_BAD_RESPONSE, f"an embedding of {size} values, not {dimension}")
        if not all(isinstance(value, float | int) and math.isfinite(value) for value in vector):
            raise TransientError(Reason.EMBED_BAD_RESPONSE, "an embedding holds a value that is not a finite number")
        by_index[index] = [float(value) for value in vector]
    return [by_index[index] for index in range(expected)]


EMBED_ERRORS = ErrorCodes(
    throttled=Reason.EMBED_THROTTLED,
    access_denied=Reason.EMBED_ACCESS_DENIED,
    unavailable=Reason.EMBED_UNAVAILABLE,
    refused=Reason.EMBED_REFUSED,
    bad_response=Reason.EMBED_BAD_RESPONSE,
)


def translated_errors() -> contextlib.AbstractContextManager[None]:
    """SDK errors as the pipeline's, once the SDK's own retries are spent (a 400 for a long input: too long)."""
    return shared_translated_errors(EMBED_ERRORS, _too_long)


def _too_long(error: openai.APIStatusError) -> PermanentError | None:
    """A 400 that says the input is over the model's context (our count disagreed with the service's)."""
    text = str(error).lower()
    if error.status_code == 400 and ("maximum context length" in text or "too many tokens" in text):
        return PermanentError(Reason.EMBED_INPUT_TOO_LONG, message(error))
    return None
