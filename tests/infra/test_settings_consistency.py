"""The app settings infra/modules/functionapp.bicep sets are exactly the settings the code reads: shared/config's
Settings (TRIBUTARY_*), the connections in their identity-based form, the `%SETTING%`s and connections of the
bindings, and the platform settings the app needs. Nothing missing, nothing extra; and no keys."""

import pytest

from tests.infra.conftest import mutate
from tests.support.infra_checks import (
    NOT_ON_AZURE,
    ROOT,
    Binding,
    app_bindings,
    bicep_settings,
    binding_settings,
    code_settings,
    setting_value_problems,
    settings_problems,
)


def test_the_bicep_sets_exactly_the_settings_the_code_reads():
    # GIVEN what the code reads (settings model, connections, bindings as the worker indexes them, platform)
    bindings = app_bindings()
    read = code_settings(bindings)
    assert "TRIBUTARY_QUEUE_DELETE" in read
    assert "AzureWebJobsStorage__queueServiceUri" in read

    # WHEN compared with the app settings of the template (both job-store branches)
    problems = settings_problems(ROOT, bindings)

    # THEN nothing is missing and nothing is extra
    assert problems == []
    _, settings = bicep_settings(ROOT)
    assert set(settings) == set(read) - set(NOT_ON_AZURE)
    # AND what is left out is only what must not be there, each for a stated reason
    assert "FUNCTIONS_WORKER_RUNTIME" not in settings
    assert not {name for name in settings if name in {"AzureWebJobsStorage", "ServiceBusConnection"}}


def test_the_settings_the_bindings_name_are_read_from_the_app_index():
    # GIVEN the bindings as the Python worker indexes them
    named = binding_settings(app_bindings())

    # THEN the triggers' %SETTING%s and connections are found where they are
    assert named["TRIBUTARY_INCOMING_CONTAINER"] == "the path of function ingest"
    assert named["TRIBUTARY_QUEUE_ENRICH"] == "the queueName of function enrich"
    assert named["ServiceBusConnection"] == "the connection of function enrich"
    assert named["AzureWebJobsStorage"] == "the connection of function ingest"
    # AND every one of them is a setting the template must set (or one left out for a stated reason)
    assert set(named) <= set(code_settings(())) | set(NOT_ON_AZURE)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # a setting renamed in the template: the real one is missing, the renamed one is extra
        (
            "TRIBUTARY_QUEUE_ENRICH: queueNames.enrich",
            "TRIBUTARY_QUEUE_ENRICHMENT: queueNames.enrich",
            "app setting TRIBUTARY_QUEUE_ENRICH (read by",
        ),
        (
            "TRIBUTARY_QUEUE_ENRICH: queueNames.enrich",
            "TRIBUTARY_QUEUE_ENRICHMENT: queueNames.enrich",
            "sets TRIBUTARY_QUEUE_ENRICHMENT, which the code does not read",
        ),
        # an identity-based child dropped (the blob trigger's poison queue would fail)
        ("  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint\n", "", "AzureWebJobsStorage__queueServiceUri"),
        # a setting Flex rejects
        (
            "  PYTHON_THREADPOOL_THREAD_COUNT: workerThreads\n",
            "  PYTHON_THREADPOOL_THREAD_COUNT: workerThreads\n  FUNCTIONS_WORKER_RUNTIME: 'python'\n",
            "sets FUNCTIONS_WORKER_RUNTIME, which the code does not read (Flex Consumption",
        ),
        # a setting only one job store reads, dropped from its branch
        ("  TRIBUTARY_COSMOS_DATABASE: cosmosDatabase\n", "", "TRIBUTARY_COSMOS_DATABASE"),
    ],
)
def test_a_setting_name_broken_in_the_template_is_reported(infra_copy, old, new, expected):
    # GIVEN a copy of the template with one app-setting name broken
    mutate(infra_copy, "infra/modules/functionapp.bicep", old, new)

    # WHEN compared with what the code reads THEN the difference is reported
    problems = settings_problems(infra_copy, app_bindings())
    assert any(expected in problem for problem in problems), problems


def test_a_binding_setting_the_template_does_not_set_is_reported():
    # GIVEN the app's bindings plus a trigger whose queue name is a setting the template does not know
    bindings = (
        *app_bindings(),
        Binding("audit", {"type": "serviceBusTrigger", "queueName": "%TRIBUTARY_QUEUE_AUDIT%", "connection": "Audit"}),
    )

    # WHEN compared THEN both the %SETTING% and the connection are reported missing
    problems = settings_problems(ROOT, bindings)
    assert any("TRIBUTARY_QUEUE_AUDIT (read by the queueName of function audit)" in p for p in problems), problems
    assert any("app setting Audit (read by the connection of function audit)" in p for p in problems), problems


def test_setting_values_are_the_codes_defaults_or_the_deployments_choice_and_carry_no_key():
    # GIVEN the literal values of the template's app settings
    # THEN each TRIBUTARY_* literal is the code's default (or a recorded deployment choice) and valid for Settings;
    # identity settings name the user-assigned identity; nothing holds a key
    assert setting_value_problems(ROOT) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "TRIBUTARY_CHUNK_TOKENS: '512'",
            "TRIBUTARY_CHUNK_TOKENS: '513'",
            "TRIBUTARY_CHUNK_TOKENS = '513', but the code's default is '512'",
        ),
        ("TRIBUTARY_VECTORS: 'aisearch'", "TRIBUTARY_VECTORS: 'aisearh'", "TRIBUTARY_VECTORS = 'aisearh'"),
        ("var workerThreads = '48'", "var workerThreads = '16'", "PYTHON_THREADPOOL_THREAD_COUNT = '16'"),
        (
            "  ServiceBusConnection__credential: 'managedidentity'",
            "  ServiceBusConnection__credential: 'connectionstring'",
            "ServiceBusConnection__credential = 'connectionstring'",
        ),
        (
            "  SearchConnection__clientId: identityClientId",
            "  SearchConnection__clientId: storageBlobEndpoint",
            "SearchConnection__clientId = storageBlobEndpoint: not the app's identity",
        ),
        (
            "  OpenAIConnection__endpoint: openAIEndpoint",
            "  OpenAIConnection__endpoint: listKeys(openAIEndpoint, '2024-10-01').key1",
            "would carry a key",
        ),
    ],
)
def test_a_wrong_setting_value_is_reported(infra_copy, old, new, expected):
    mutate(infra_copy, "infra/modules/functionapp.bicep", old, new)
    problems = setting_value_problems(infra_copy)
    assert any(expected in problem for problem in problems), problems


def test_a_job_store_setting_set_for_both_stores_is_reported(infra_copy):
    # GIVEN a copy where the Cosmos DB database moved from the Cosmos DB branch into the common settings
    mutate(infra_copy, "infra/modules/functionapp.bicep", "  TRIBUTARY_COSMOS_DATABASE: cosmosDatabase\n", "")
    mutate(
        infra_copy,
        "infra/modules/functionapp.bicep",
        "  TRIBUTARY_JOB_STORE: jobStore\n",
        "  TRIBUTARY_JOB_STORE: jobStore\n  TRIBUTARY_COSMOS_DATABASE: cosmosDatabase\n",
    )

    # WHEN checked THEN it is reported: a PostgreSQL deployment would carry a setting nothing reads
    problems = setting_value_problems(infra_copy)
    expected = "TRIBUTARY_COSMOS_DATABASE is read only by one job store but is set outside cosmosSettings"
    assert any(expected in problem for problem in problems), problems
