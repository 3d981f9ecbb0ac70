"""Connection settings read the way the Functions host reads a binding's `connection=` (identity-based or not).

A connection named `X` is a configuration section: `X` itself (or `AzureWebJobsX`, or under `ConnectionStrings__`)
holds a connection string, or its children `X__serviceUri`, `X__fullyQualifiedNamespace`, `X__accountEndpoint`, ...
name the resource, reached with a token credential: `X__credential=managedidentity` (+ `X__clientId` for a
user-assigned identity), or `X__tenantId` + `X__clientId` + `X__clientSecret`, else `DefaultAzureCredential`
(managed identity before developer logins). The SDK clients the code builds read exactly these names, so one
setting serves the trigger and the code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


def connection_section(name: str, environ: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
    """(value, children) of the first configuration section that exists for `name`, as the Functions host looks.

    Keys are case-insensitive (.NET configuration) and `__` separates levels in environment variables. Children are
    keyed in lower case.
    """
    settings = {key.lower(): value for key, value in environ.items()}
    for candidate in (f"AzureWebJobs{name}", name):
        for key in (f"ConnectionStrings__{candidate}".lower(), candidate.lower()):
            value = settings.get(key, "").strip() or None
            prefix = f"{key}__"
            children = {k[len(prefix) :]: v.strip() for k, v in settings.items() if k.startswith(prefix) and v.strip()}
            if value or children:
                return value, children
    return None, {}


def is_configured(name: str, environ: Mapping[str, str]) -> bool:
    """Whether the connection `name` has a value or any child setting."""
    value, children = connection_section(name, environ)
    return bool(value or children)


def token_credential(children: Mapping[str, str]) -> TokenCredential:
    """The credential Microsoft.Extensions.Azure builds from a connection section (certificates aside)."""
    # Imported here: it takes ~0.2 s (a cold start pays it) and a connection string does not need it.
    from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

    client_id = children.get("clientid")
    if children.get("credential", "").lower() == "managedidentity":
        return ManagedIdentityCredential(client_id=client_id)
    tenant_id, secret = children.get("tenantid"), children.get("clientsecret")
    if tenant_id and client_id and secret:
        return ClientSecretCredential(tenant_id, client_id, secret)
    if children.get("clientcertificate"):
        raise ValueError("certificate credentials from the certificate store are not supported here")
    if client_id:
        return DefaultAzureCredential(managed_identity_client_id=client_id)
    return DefaultAzureCredential()


def close_credential(credential: object) -> None:
    """Close a credential `token_credential` made (they hold HTTP sessions), best effort: a client that is closing
    has nothing better to do with a failure here."""
    close = getattr(credential, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


def connection_string_parts(value: str) -> dict[str, str]:
    """The `Name=value;...` pairs of a connection string, names lower-cased (a value may hold `=`, as keys do)."""
    parts: dict[str, str] = {}
    for part in value.split(";"):
        name, _, setting = part.strip().partition("=")
        if name:
            parts[name.strip().lower()] = setting.strip()
    return parts


def keyed_endpoint(value: str, service: str) -> tuple[str, str]:
    """(endpoint, key) of an `Endpoint=...;Key=...` connection string; ValueError naming `service` when either is
    missing."""
    parts = connection_string_parts(value)
    endpoint, key = parts.get("endpoint"), parts.get("key")
    if not endpoint or not key:
        raise ValueError(f"{service} connection string needs Endpoint=https://...;Key=...")
    return endpoint, key


def endpoint_connection(name: str, environ: Mapping[str, str], service: str) -> tuple[str, str | None, dict[str, str]]:
    """A connection of the endpoint-and-key kind (AI Search, Azure OpenAI): (endpoint, key, children) from a
    connection string, or (endpoint, None, children) from `<name>__endpoint`, the children then saying which token
    credential to use (`token_credential`). ValueError when neither form is set."""
    value, children = connection_section(name, environ)
    if value:
        endpoint, key = keyed_endpoint(value, service)
        return endpoint, key, children
    endpoint = children.get("endpoint", "")
    if not endpoint:
        raise ValueError(
            f"{service} connection {name!r} is not configured: set {name} to a connection string"
            f" (Endpoint=https://...;Key=...) or {name}__endpoint for an identity-based one"
        )
    return endpoint, None, children
