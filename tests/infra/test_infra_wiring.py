"""The templates agree with the code where a name or a number crosses between them: the stage queues and their
delivery cap, the Cosmos DB containers, the Event Grid webhooks of the event-triggered functions, the Flex app."""

import pytest

from tests.infra.conftest import mutate
from tests.support.infra_checks import (
    ROOT,
    alert_problems,
    app_bindings,
    cosmos_problems,
    eventgrid_problems,
    flex_problems,
    queue_problems,
)


def test_queues_and_the_delivery_cap_come_from_one_place():
    # GIVEN main.bicep's stage queues and maxDeliveryCount, the Service Bus module and the app settings
    # THEN the queues are the code's stages, created with duplicate detection, the cap, the lock and dead-lettering
    # on expiry, and the app reads the same names and the same cap
    assert queue_problems(ROOT) == []


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        ("infra/main.bicep", "  delete: 'delete'\n", "", "must be the code's stage queues"),
        (
            "infra/modules/servicebus.bicep",
            "maxDeliveryCount: maxDeliveryCount",
            "maxDeliveryCount: 10",
            "queue property maxDeliveryCount is 10",
        ),
        (
            "infra/modules/servicebus.bicep",
            "requiresDuplicateDetection: true",
            "requiresDuplicateDetection: false",
            "queue property requiresDuplicateDetection is False",
        ),
        (
            "infra/modules/functionapp.bicep",
            "TRIBUTARY_MAX_DELIVERY_COUNT: string(maxDeliveryCount)",
            "TRIBUTARY_MAX_DELIVERY_COUNT: '10'",
            "TRIBUTARY_MAX_DELIVERY_COUNT is [\"'10'\"], not string(maxDeliveryCount)",
        ),
        (
            "infra/modules/functionapp.bicep",
            "TRIBUTARY_QUEUE_GRAPH: queueNames.graph",
            "TRIBUTARY_QUEUE_GRAPH: queueNames.vector",
            "TRIBUTARY_QUEUE_GRAPH is ['queueNames.vector'], not queueNames.graph",
        ),
        (
            "infra/main.bicep",
            "    maxDeliveryCount: maxDeliveryCount\n    lockDuration",
            "    maxDeliveryCount: 5\n    lockDuration",
            "passes modules/servicebus.bicep maxDeliveryCount: '5'",
        ),
        ("infra/main.bicep", "param maxDeliveryCount int = 10", "param maxDeliveryCount int = 5", "defaults to 5"),
    ],
)
def test_a_queue_or_cap_out_of_step_is_reported(infra_copy, relative, old, new, expected):
    mutate(infra_copy, relative, old, new)
    problems = queue_problems(infra_copy)
    assert any(expected in problem for problem in problems), problems


def test_cosmos_containers_are_the_ones_the_store_creates():
    # GIVEN shared/adapters/cosmos_jobstore.py's containers, partition keys and indexing policy
    # THEN the template creates the same (with Entra-only access the app cannot create them itself)
    assert cosmos_problems(ROOT) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("          '/job_id'\n", "          '/jobId'\n", "are not the store's"),
        ("            path: '/markers/*'\n", "            path: '/marker/*'\n", "indexing policy is not the store's"),
        ("  name: 'documents'\n", "  name: 'document'\n", "container document has resource id documents"),
    ],
)
def test_a_cosmos_container_out_of_step_is_reported(infra_copy, old, new, expected):
    mutate(infra_copy, "infra/modules/cosmos.bicep", old, new)
    problems = cosmos_problems(infra_copy)
    assert any(expected in problem for problem in problems), problems


def test_event_grid_webhooks_are_the_apps_event_triggered_functions():
    # GIVEN the blob trigger (source EventGrid) and the Event Grid trigger of the app
    # THEN BlobCreated goes to the blob extension's webhook of `ingest`, BlobDeleted to the Event Grid extension's
    # webhook of `blob_deleted`, both for the incoming container only and with a dead-letter destination
    assert eventgrid_problems(ROOT, app_bindings()) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("functionName=Host.Functions.ingest&", "functionName=Host.Functions.ingest2&", "are not the app's"),
        ("functionName=blob_deleted&", "functionName=blobDeleted&", "are not the app's"),
        ("'Microsoft.Storage.BlobDeleted'", "'Microsoft.Storage.BlobCreated'", "are not the app's"),
        ("containers/${incomingContainer}/'", "containers/'", "not the incoming container's prefix"),
        (
            "      subjectBeginsWith: incomingSubject\n      isSubjectCaseSensitive: true\n    }\n"
            "    eventDeliverySchema: 'EventGridSchema'\n    retryPolicy: retryPolicy\n"
            "    deadLetterWithResourceIdentity: deadLetter\n  }\n}\n\nresource blobDeleted",
            "      isSubjectCaseSensitive: true\n    }\n    eventDeliverySchema: 'EventGridSchema'\n    retryPolicy: "
            "retryPolicy\n  }\n}\n\nresource blobDeleted",
            "blobCreated has no dead-letter destination",
        ),
    ],
)
def test_an_event_grid_subscription_out_of_step_is_reported(infra_copy, old, new, expected):
    mutate(infra_copy, "infra/eventgrid-subscriptions.bicep", old, new)
    problems = eventgrid_problems(infra_copy, app_bindings())
    assert any(expected in problem for problem in problems), problems


def test_the_function_app_runs_on_flex_consumption_with_the_projects_python():
    assert flex_problems(ROOT) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("version: '3.11'", "version: '3.12'", "is not the project's Python"),
        (
            "instanceMemoryMB: instanceMemoryMB\n        max",
            "instanceMemoryMB: 2048\n        max",
            "scaleAndConcurrency",
        ),
        ("name: 'FC1'", "name: 'Y1'", "not Flex Consumption"),
        ("type: 'UserAssignedIdentity'", "type: 'StorageAccountConnectionString'", "deployment container"),
    ],
)
def test_a_flex_setting_out_of_step_is_reported(infra_copy, old, new, expected):
    mutate(infra_copy, "infra/modules/functionapp.bicep", old, new)
    problems = flex_problems(infra_copy)
    assert any(expected in problem for problem in problems), problems


def test_alerts_watch_every_stage_queue_and_the_platform_failure_metrics():
    # GIVEN the alert rules and the queues main.bicep creates
    # THEN dead letters and backlog are watched per stage queue, failures, poison blobs and event dead letters once
    assert alert_problems(ROOT) == []


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        (
            "infra/main.bicep",
            "queueNames: map(items(queueNames), queue => queue.value)",
            "queueNames: ['enrich', 'extract', 'graph', 'vector']",
            "not every queue of queueNames",
        ),
        ("infra/modules/alerts.bicep", "metricName: 'DeadletteredMessages'", "metricName: 'DeadLetters'", "are not"),
        ("infra/modules/alerts.bicep", "metricName: 'QueueMessageCount'", "metricName: 'QueueCount'", "are not"),
    ],
)
def test_an_alert_out_of_step_is_reported(infra_copy, relative, old, new, expected):
    mutate(infra_copy, relative, old, new)
    problems = alert_problems(infra_copy)
    assert any(expected in problem for problem in problems), problems
