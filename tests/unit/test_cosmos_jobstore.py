"""CosmosJobStore without a server: reading the connection setting, certificate checks, and errors as the port's."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from shared.adapters.cosmos_jobstore import CosmosJobStore, _translated, parse_connection_string
from shared.config import COSMOS_CONNECTION
from shared.domain import PermanentError, TransientError

KEY = "a2V5"  # any base64 will do: nothing connects in these tests


def test_a_connection_string_gives_endpoint_and_key() -> None:
    # GIVEN the setting as a connection string (keys in any case, '=' inside the key's base64 padding)
    environ = {COSMOS_CONNECTION: f"accountendpoint=https://acct.documents.azure.com:443/;AccountKey={KEY}==;"}

    # WHEN the store is built from it
    store = CosmosJobStore.from_connection_setting(COSMOS_CONNECTION, "tributary", environ)

    # THEN it holds the endpoint, the key and the database, and checks certificates
    assert (store.endpoint, store._credential, store.database_name) == (
        "https://acct.documents.azure.com:443/",
        f"{KEY}==",
        "tributary",
    )
    assert store._client_options["connection_verify"] is True


def test_an_account_endpoint_uses_the_managed_identity_named() -> None:
    environ = {
        f"{COSMOS_CONNECTION}__accountEndpoint": "https://acct.documents.azure.com:443/",
        f"{COSMOS_CONNECTION}__credential": "managedidentity",
        f"{COSMOS_CONNECTION}__clientId": "00000000-0000-0000-0000-000000000001",
    }
    store = CosmosJobStore.from_connection_setting(COSMOS_CONNECTION, "tributary", environ)
    assert isinstance(store._credential, ManagedIdentityCredential)
    assert store._owns_credential
    store.close()


def test_an_account_endpoint_alone_uses_the_default_credential() -> None:
    environ = {f"{COSMOS_CONNECTION}__accountEndpoint": "https://acct.documents.azure.com:443/"}
    store = CosmosJobStore.from_connection_setting(COSMOS_CONNECTION, "tributary", environ)
    assert isinstance(store._credential, DefaultAzureCredential)
    store.close()


def test_an_unset_connection_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="CosmosConnection__accountEndpoint"):
        CosmosJobStore.from_connection_setting(COSMOS_CONNECTION, "tributary", {})


@pytest.mark.parametrize("value", ["AccountEndpoint=https://a/;", f"AccountKey={KEY};", "nonsense"])
def test_a_connection_string_without_endpoint_or_key_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="AccountEndpoint"):
        parse_connection_string(value)


@pytest.mark.parametrize(
    ("endpoint", "verify"),
    [
        ("https://127.0.0.1:8081/", False),
        ("https://localhost:8081/", False),
        ("https://LOCALHOST:8081/", False),
        ("https://acct.documents.azure.com:443/", True),
        ("https://127.0.0.1.example.com/", True),
        ("https://localhost.evil.example/", True),
    ],
)
def test_certificates_go_unchecked_only_on_this_machine(endpoint: str, verify: bool) -> None:
    # Even a caller asking for no verification gets it on a remote host.
    store = CosmosJobStore(endpoint, KEY, "tributary", connection_verify=False)
    assert store._client_options["connection_verify"] is verify


@pytest.mark.parametrize("status", [408, 429, 449, 500, 503])
def test_throttling_and_outages_are_transient(status: int) -> None:
    with pytest.raises(TransientError) as caught, _translated("job j"):
        raise CosmosHttpResponseError(status_code=status, message="busy")
    assert caught.value.reason_code == "jobstore.unavailable"


def test_an_unreachable_account_is_transient() -> None:
    with pytest.raises(TransientError, match=r"jobstore\.unavailable"), _translated("job j"):
        raise ServiceRequestError("connection refused")


def test_a_job_over_the_item_limit_is_permanent() -> None:
    with pytest.raises(PermanentError, match=r"jobstore\.job_too_large"), _translated("job j"):
        raise CosmosHttpResponseError(status_code=413, message="too large")


def test_other_errors_pass_through() -> None:
    with pytest.raises(CosmosHttpResponseError), _translated("job j"):
        raise CosmosHttpResponseError(status_code=400, message="bad request")


def test_a_closed_store_refuses_work() -> None:
    store = CosmosJobStore("https://127.0.0.1:1/", KEY, "tributary")
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.get_job("job-1")


class _Resource:
    def __init__(self, exists: bool) -> None:
        self.exists = exists
        self.reads = 0

    def read(self) -> dict[str, str]:
        self.reads += 1
        if not self.exists:
            raise CosmosHttpResponseError(status_code=404, message="Resource Not Found")
        return {"id": "jobs"}


def _refused() -> None:
    raise CosmosHttpResponseError(status_code=403, message="blocked by your Cosmos DB account firewall or RBAC")


def test_a_create_refused_to_a_data_plane_identity_reads_what_the_deployment_created() -> None:
    # GIVEN an identity whose data-plane role may not create containers (403), and the container the Bicep created
    container = _Resource(exists=True)

    # WHEN migrate's create-if-absent meets the refusal
    found = CosmosJobStore._create_if_absent(_refused, lambda: container)

    # THEN it reads the existing container instead of failing the start
    assert found is container
    assert container.reads == 1


def test_a_create_refused_for_a_container_nobody_created_says_it_is_missing() -> None:
    with pytest.raises(CosmosHttpResponseError) as raised:
        CosmosJobStore._create_if_absent(_refused, lambda: _Resource(exists=False))
    assert raised.value.status_code == 404
