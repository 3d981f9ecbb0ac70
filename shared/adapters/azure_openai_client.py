"""The `openai` SDK's `AzureOpenAI` client for an `OpenAIConnection`-style setting, and its errors as ours: what the
embedder and the chat model share.

Retries are the SDK's own (openai 3.57, `_base_client.py`): it retries 408/409/429/5xx, timeouts and connection
errors with exponential backoff (0.5 s doubling to 8 s, 0–25 % jitter), and waits what a 429's `retry-after-ms` /
`Retry-After` asks when that is at most 120 s (a longer wait is not retried, and reaches the caller as its
`throttled` code). What is still failing when its retries are spent becomes a `TransientError`; a refusal becomes a
`PermanentError`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import openai
from openai import AzureOpenAI

from shared.connections import close_credential, endpoint_connection, token_credential
from shared.domain import Reason
from shared.domain.errors import PermanentError, TransientError

# The scope Azure OpenAI (Cognitive Services) tokens are issued for.
TOKEN_SCOPE = "https://cognitiveservices.azure.com/.default"


def open_client(
    name: str,
    api_version: str,
    environ: Mapping[str, str] | None = None,
    *,
    max_retries: int = 4,
    timeout: float = 60.0,
) -> tuple[AzureOpenAI, Callable[[], None]]:
    """The client for a connection setting (e.g. `OpenAIConnection`), read as the Functions host reads one, and the
    function that closes it (with the credential it made).

    A value is a connection string `Endpoint=https://<resource>.openai.azure.com;Key=<key>`. Otherwise
    `<name>__endpoint` names the resource, reached with a token credential (`__credential=managedidentity` +
    `__clientId`, or `__tenantId` + `__clientId` + `__clientSecret`, else DefaultAzureCredential); the identity
    needs the "Cognitive Services OpenAI User" role.
    """
    environ = os.environ if environ is None else environ
    endpoint, key, children = endpoint_connection(name, environ, "Azure OpenAI")
    common: dict[str, Any] = {"api_version": api_version, "max_retries": max_retries, "timeout": timeout}
    if key:
        client = AzureOpenAI(azure_endpoint=endpoint, api_key=key, **common)
        return client, client.close
    from azure.identity import get_bearer_token_provider

    credential = token_credential(children)
    provider = get_bearer_token_provider(credential, TOKEN_SCOPE)
    client = AzureOpenAI(azure_endpoint=endpoint, azure_ad_token_provider=provider, **common)

    def close() -> None:
        client.close()
        close_credential(credential)

    return client, close


@dataclass(frozen=True)
class ErrorCodes:
    """The reason codes one user of the client reports its failures with."""

    throttled: Reason  # 429 past the retries
    access_denied: Reason  # 401/403
    unavailable: Reason  # 5xx, 408/409, timeouts, connection failures past the retries
    refused: Reason  # any other 4xx
    bad_response: Reason  # a body that is not the answer's shape


# A refinement of a 4xx the caller knows better (a 400 that says the input is too long): its own error, or None.
Refine = Callable[[openai.APIStatusError], PermanentError | None]


@contextlib.contextmanager
def translated_errors(codes: ErrorCodes, refine: Refine | None = None) -> Iterator[None]:
    """SDK errors as the pipeline's, once the SDK's own retries are spent."""
    try:
        yield
    except openai.RateLimitError as error:
        raise TransientError(codes.throttled, message(error)) from error
    except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
        raise PermanentError(codes.access_denied, message(error)) from error
    except openai.APIStatusError as error:
        if error.status_code in (408, 409) or error.status_code >= 500:
            raise TransientError(codes.unavailable, message(error)) from error
        refined = refine(error) if refine is not None else None
        if refined is not None:
            raise refined from error
        raise PermanentError(codes.refused, message(error)) from error
    except openai.APIConnectionError as error:  # refused, reset, or timed out (APITimeoutError)
        raise TransientError(codes.unavailable, message(error)) from error
    # A body that is not the answer's shape fails inside the SDK's own parsing: a non-JSON body arrives as a str
    # (AttributeError further on), broken JSON or base64 as ValueError, a missing field likewise.
    except (openai.APIResponseValidationError, ValueError, AttributeError, TypeError) as error:
        raise TransientError(codes.bad_response, f"{type(error).__name__}: {error}") from error


def message(error: openai.APIError) -> str:
    """The status and the first line of the service's message."""
    status = getattr(error, "status_code", None)
    text = (str(error.message).strip().splitlines() or [type(error).__name__])[0]
    return f"{status} {text}" if status else text
