"""The Azure OpenAI embedder driven through the real `openai` client against the local stand-in of the service:
answers, batching within the request limits, the SDK's retries, and each failure's reason code and kind."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from shared.adapters.azure_openai_embedder import AzureOpenAIEmbedder, request_batches
from shared.domain import PermanentError, TransientError
from tests.support.openai_standin import DEPLOYMENT, KEY, OpenAIStandIn, expected_vector

DIMENSION = 32


def vectors_of(*texts: str) -> list[list[float]]:
    return [expected_vector(text, DIMENSION) for text in texts]


def same(first: list[list[float]], second: list[list[float]]) -> bool:
    return np.asarray(first).shape == np.asarray(second).shape and np.allclose(first, second)


def embedder_for(openai_standin: OpenAIStandIn, **options: Any) -> AzureOpenAIEmbedder:
    retries = options.pop("max_retries", 2)
    timeout = options.pop("timeout", 10.0)
    return AzureOpenAIEmbedder.from_connection_setting(
        "OpenAIConnection",
        options.pop("deployment", DEPLOYMENT),
        "2024-10-21",
        DIMENSION,
        {"OpenAIConnection": f"Endpoint={openai_standin.endpoint};Key={options.pop('key', KEY)}"},
        max_retries=retries,
        timeout=timeout,
        **options,
    )


def test_a_normal_answer_is_one_vector_per_text_in_order(openai_standin: OpenAIStandIn) -> None:
    # WHEN three texts are embedded
    vectors = embedder_for(openai_standin).embed(["alpha", "beta", "gamma"])
    # THEN each text has the service's vector for it (decoded from the SDK's base64), in order
    assert same(vectors, vectors_of("alpha", "beta", "gamma"))
    # AND one request went to the deployment's route with the API version, the key and the dimensions
    (request,) = openai_standin.requests
    assert request.path == f"/openai/deployments/{DEPLOYMENT}/embeddings"
    assert request.api_version == "2024-10-21"
    assert request.headers["api-key"] == KEY
    assert request.body["dimensions"] == DIMENSION
    assert request.body["input"] == ["alpha", "beta", "gamma"]


def test_requests_are_cut_by_count_and_by_tokens(openai_standin: OpenAIStandIn) -> None:
    # GIVEN at most 2 texts and 30 tokens a request (each text below is 10 tokens or fewer)
    embedder = embedder_for(openai_standin, batch_inputs=2, batch_tokens=30, max_input_tokens=30)
    texts = ["one two three four five six seven eight nine ten"] * 3 + ["short"] * 3
    # WHEN embedded
    vectors = embedder.embed(texts)
    # THEN every request kept both limits, and every text got its vector in order
    sizes = [len(request.body["input"]) for request in openai_standin.requests]
    assert sizes == [2, 2, 2]
    assert same(vectors, vectors_of(*texts))


def test_batching_by_tokens_alone() -> None:
    # GIVEN counts 5, 5, 5, 1 and 10 tokens a request WHEN batched THEN 5+5, 5+1, never over
    assert list(request_batches([0, 1, 2, 3], [5, 5, 5, 1], max_inputs=100, max_tokens=10)) == [[0, 1], [2, 3]]


def test_a_blank_text_is_the_zero_vector_and_is_not_sent(openai_standin: OpenAIStandIn) -> None:
    vectors = embedder_for(openai_standin).embed(["  ", "real text"])
    assert vectors[0] == [0.0] * DIMENSION
    assert [request.body["input"] for request in openai_standin.requests] == [["real text"]]


def test_a_429_is_retried_after_the_wait_it_asks_for(openai_standin: OpenAIStandIn) -> None:
    # GIVEN a throttled first answer that asks for a 1 s wait
    openai_standin.fail_next(1, 429, retry_after="1")
    started = time.monotonic()
    # WHEN a text is embedded THEN it succeeds on the retry, after at least that wait
    assert same(embedder_for(openai_standin).embed(["alpha"]), vectors_of("alpha"))
    assert time.monotonic() - started >= 1.0
    assert len(openai_standin.requests) == 2


def test_throttling_past_the_retries_is_transient_embed_throttled(openai_standin: OpenAIStandIn) -> None:
    openai_standin.fail_next(3, 429, retry_after="0.1")
    with pytest.raises(TransientError) as failure:
        embedder_for(openai_standin, max_retries=2).embed(["alpha"])
    assert failure.value.reason_code == "embed.throttled"
    assert len(openai_standin.requests) == 3  # the first try and two retries


def test_a_500_is_retried_with_backoff(openai_standin: OpenAIStandIn) -> None:
    openai_standin.fail_next(1, 500)
    assert same(embedder_for(openai_standin).embed(["alpha"]), vectors_of("alpha"))
    assert len(openai_standin.requests) == 2


def test_a_server_failing_past_the_retries_is_transient_embed_unavailable(openai_standin: OpenAIStandIn) -> None:
    openai_standin.fail_next(2, 503)
    with pytest.raises(TransientError) as failure:
        embedder_for(openai_standin, max_retries=1).embed(["alpha"])
    assert failure.value.reason_code == "embed.unavailable"


def test_a_timeout_is_transient_embed_unavailable(openai_standin: OpenAIStandIn) -> None:
    openai_standin.stall_next(1.5)
    with pytest.raises(TransientError) as failure:
        embedder_for(openai_standin, max_retries=0, timeout=0.5).embed(["alpha"])
    assert failure.value.reason_code == "embed.unavailable"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html>Bad gateway</html>", "text/html"),
        (b"{not json", "application/json"),
        (b'{"object": "list", "data": []}', "application/json"),
        (b'{"object": "list", "data": [{"index": 0, "embedding": [0.5, 0.5]}]}', "application/json"),
        (b'{"object": "list", "data": [{"index": 0, "embedding": "%%%"}]}', "application/json"),
    ],
    ids=["html", "truncated-json", "no-vectors", "wrong-dimension", "bad-base64"],
)
def test_a_malformed_body_is_transient_embed_bad_response(
    openai_standin: OpenAIStandIn, body: bytes, content_type: str
) -> None:
    openai_standin.answer_next(body, content_type)
    with pytest.raises(TransientError) as failure:
        embedder_for(openai_standin, max_retries=0).embed(["alpha"])
    assert failure.value.reason_code == "embed.bad_response"


def test_a_text_over_the_model_limit_is_refused_before_any_request(openai_standin: OpenAIStandIn) -> None:
    # GIVEN a text of more than 8,191 cl100k tokens among short ones
    long_text = "token " * 9000
    # WHEN embedded THEN a permanent embed.input_too_long naming the text, and nothing was sent
    with pytest.raises(PermanentError) as refused:
        embedder_for(openai_standin).embed(["short", long_text])
    assert refused.value.reason_code == "embed.input_too_long"
    assert "text 1" in refused.value.detail
    assert openai_standin.requests == []


def test_the_service_refusing_a_long_input_is_permanent_embed_input_too_long(openai_standin: OpenAIStandIn) -> None:
    # GIVEN an embedder that allows more tokens than the deployment takes (a model with a smaller context)
    embedder = embedder_for(openai_standin, max_input_tokens=20_000)
    # WHEN it sends a text the service counts over its context THEN the service's 400 is embed.input_too_long
    with pytest.raises(PermanentError) as refused:
        embedder.embed(["token " * 9000])
    assert refused.value.reason_code == "embed.input_too_long"
    assert len(openai_standin.requests) == 1  # a 400 is not retried


def test_a_wrong_key_is_permanent_embed_access_denied(openai_standin: OpenAIStandIn) -> None:
    with pytest.raises(PermanentError) as refused:
        embedder_for(openai_standin, key="wrong").embed(["alpha"])
    assert refused.value.reason_code == "embed.access_denied"


def test_an_unknown_deployment_is_permanent_embed_refused(openai_standin: OpenAIStandIn) -> None:
    with pytest.raises(PermanentError) as refused:
        embedder_for(openai_standin, deployment="no-such-deployment").embed(["alpha"])
    assert refused.value.reason_code == "embed.refused"
    assert "DeploymentNotFound" in refused.value.detail or "does not exist" in refused.value.detail


def test_an_identity_connection_sends_a_bearer_token(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the identity form of the connection, with a credential that hands out the stand-in's token
    from azure.core.credentials import AccessToken

    from shared.adapters import azure_openai_client

    class StaticCredential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            assert scopes == (azure_openai_client.TOKEN_SCOPE,)
            return AccessToken(KEY, int(time.time()) + 3600)

    monkeypatch.setattr(azure_openai_client, "token_credential", lambda children: StaticCredential())
    embedder = AzureOpenAIEmbedder.from_connection_setting(
        "OpenAIConnection", DEPLOYMENT, "2024-10-21", DIMENSION, {"OpenAIConnection__endpoint": openai_standin.endpoint}
    )
    # WHEN a text is embedded THEN the request carried the bearer token for the Cognitive Services scope
    embedder.embed(["alpha"])
    assert openai_standin.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert "api-key" not in openai_standin.requests[0].headers
