"""Community summaries by the chat model (shared/communities/summaries.py) through the real `openai` client and the
Azure OpenAI chat adapter, against the local OpenAI stand-in: the answer used, a malformed one and an outage falling
back to the extractive summary."""

from __future__ import annotations

import json
from typing import Any

from shared.adapters.azure_openai_chat import AzureOpenAIChat
from shared.communities.graph import Link
from shared.communities.summaries import EXTRACTIVE, CommunityView, Usage, summarise
from tests.support.openai_standin import CHAT_DEPLOYMENT, KEY, OpenAIStandIn

OKAPI = CommunityView(
    size=3,
    types=(("Person", 2), ("Organization", 1)),
    entities=(("Okapi Analytics", "Organization", 4), ("Zoe Okafor", "Person", 2), ("Marta Wisniewska", "Person", 2)),
    relations=(
        (Link("r1", "WORKS_FOR", "e2", "e1", 2), "Zoe Okafor", "Okapi Analytics"),
        (Link("r2", "WORKS_FOR", "e3", "e1", 2), "Marta Wisniewska", "Okapi Analytics"),
    ),
    evidence="Zoe Okafor leads research at Okapi Analytics.",
)


def chat(standin: OpenAIStandIn) -> AzureOpenAIChat:
    return AzureOpenAIChat.from_connection_setting(
        "OpenAIConnection",
        CHAT_DEPLOYMENT,
        "2024-10-21",
        {"OpenAIConnection": f"Endpoint={standin.endpoint};Key={KEY}"},
        max_retries=0,
        timeout=10.0,
    )


def test_the_chat_models_answer_is_the_summary_and_its_tokens_are_counted(openai_standin: OpenAIStandIn) -> None:
    # GIVEN a model that answers with a title and a summary
    openai_standin.chat_responder = lambda body: {"title": "Okapi Analytics team", "summary": "Two researchers."}
    usage = Usage()

    # WHEN a community is summarised
    title, summary, summarizer = summarise(OKAPI, chat(openai_standin), 600, usage)

    # THEN the answer is used and named after the deployment, the request asked for the summary schema in strict mode
    # with the community as data, and its tokens are counted
    assert (title, summary) == ("Okapi Analytics team", "Two researchers.")
    assert summarizer.startswith(f"chat:{CHAT_DEPLOYMENT}/")
    (request,) = openai_standin.chat_requests()
    response_format: dict[str, Any] = request.body["response_format"]
    assert response_format["json_schema"]["name"] == "community_summary"
    assert response_format["json_schema"]["strict"] is True
    user = next(m["content"] for m in request.body["messages"] if m["role"] == "user")
    assert json.loads(user)["entities"][0]["name"] == "Okapi Analytics"
    assert usage.chat_answers == 1
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0


def test_a_malformed_answer_falls_back_to_the_extractive_summary_for_that_community(
    openai_standin: OpenAIStandIn,
) -> None:
    # GIVEN a model whose answer misses the summary
    openai_standin.chat_responder = lambda body: {"title": "Okapi", "summary": ""}
    usage = Usage()

    # WHEN two communities are summarised
    first = summarise(OKAPI, chat(openai_standin), 600, usage)
    second = summarise(OKAPI, chat(openai_standin), 600, usage)

    # THEN both are extractive, counted as fallbacks, and the model was still asked the second time
    assert first[2] == second[2] == EXTRACTIVE
    assert "Okapi Analytics" in first[1]
    assert usage.chat_fallbacks == 2
    assert len(openai_standin.chat_requests()) == 2


def test_an_outage_makes_the_rest_of_the_run_extractive_without_asking_again(openai_standin: OpenAIStandIn) -> None:
    # GIVEN a model that fails with a 500 (no retries configured)
    openai_standin.fail_next(1, 500)
    model = chat(openai_standin)
    usage = Usage()

    # WHEN three communities are summarised
    answers = [summarise(OKAPI, model, 600, usage) for _ in range(3)]

    # THEN all three are extractive and the model was asked only once
    assert {summarizer for _, _, summarizer in answers} == {EXTRACTIVE}
    assert len(openai_standin.chat_requests()) == 1
    assert usage.chat_fallbacks == 1
