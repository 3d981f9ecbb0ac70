"""Resource API versions and role-definition ids against the tables (with sources) in infra/README.md; parameters
files, module calls, the postdeploy hook and azure.yaml against the templates' parameters and outputs."""

import pytest

from tests.infra.conftest import mutate
from tests.support.infra_checks import (
    ROOT,
    api_version_problems,
    azure_yaml_problems,
    parameter_problems,
    readme_table,
    role_assignments,
    role_problems,
)


def test_every_resource_type_and_api_version_is_a_documented_one():
    # GIVEN the README's table of type@apiVersion with the Microsoft Learn page of each
    table = readme_table(ROOT, "Resource type")
    assert len(table) >= 25

    # THEN every resource the templates declare is in it, and every row is used
    assert api_version_problems(ROOT) == []


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        (
            "infra/modules/functionapp.bicep",
            "'Microsoft.Web/serverfarms@2024-04-01'",
            "'Microsoft.Web/serverfarms@2024-04-02'",
            "Microsoft.Web/serverfarms@2024-04-02 is not in the API-version table",
        ),
        (
            "infra/modules/servicebus.bicep",
            "'Microsoft.ServiceBus/namespaces/queues@2021-11-01'",
            "'Microsoft.ServiceBus/namespace/queues@2021-11-01'",
            "Microsoft.ServiceBus/namespace/queues@2021-11-01 is not in the API-version table",
        ),
        (
            "infra/README.md",
            "2024-04-01/serverfarms",
            "2023-12-01/serverfarms",
            "the source of Microsoft.Web/serverfarms@2024-04-01 is not",
        ),
    ],
)
def test_an_undocumented_api_version_or_source_is_reported(infra_copy, relative, old, new, expected):
    # GIVEN a copy with one type, version or source broken WHEN checked THEN it is reported
    mutate(infra_copy, relative, old, new)
    assert any(expected in problem for problem in api_version_problems(infra_copy)), api_version_problems(infra_copy)


def test_role_ids_are_the_documented_ones_and_the_identity_holds_exactly_its_roles():
    # GIVEN the README's role table (id, principal, source)
    roles = {row["Role"] for row in readme_table(ROOT, "Role")}
    assert {"Storage Blob Data Owner", "Cosmos DB Built-in Data Contributor", "Key Vault Secrets User"} <= roles

    # THEN every role id in the templates is in it under the name of the variable holding it, every row is used, and
    # the app's identity is granted exactly the rows marked for it
    assert role_problems(ROOT) == []
    # AND the Cosmos DB role is a Cosmos DB SQL role assignment, not Azure RBAC
    cosmos = [a for a in role_assignments(ROOT) if a.role == "00000000-0000-0000-0000-000000000002"]
    assert [a.file for a in cosmos] == ["infra/modules/cosmos.bicep"]


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        # one character of a role id changed
        (
            "infra/modules/keyvault.bicep",
            "'4633458b-17de-408a-b874-0445c86b69e6'",
            "'4633458b-17de-408a-b874-0445c86b69e7'",
            "keyVaultSecretsUser = 4633458b-17de-408a-b874-0445c86b69e7 is not in the role table",
        ),
        # two roles swapped: each id is a documented one, but not the role its name says
        (
            "infra/modules/servicebus.bicep",
            "var azureServiceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'\n"
            "var azureServiceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'",
            "var azureServiceBusDataReceiver = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'\n"
            "var azureServiceBusDataSender = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'",
            "azureServiceBusDataReceiver holds the id of 'Azure Service Bus Data Sender'",
        ),
    ],
)
def test_a_wrong_role_id_is_reported(infra_copy, relative, old, new, expected):
    # GIVEN a copy with a role id broken WHEN checked THEN it is reported
    mutate(infra_copy, relative, old, new)
    problems = role_problems(infra_copy)
    assert any(expected in problem for problem in problems), problems


def test_an_extra_role_granted_to_the_app_is_reported(infra_copy):
    # GIVEN a copy where the search module grants the identity one more role, documented for another principal
    mutate(
        infra_copy,
        "infra/modules/search.bicep",
        "var searchServiceContributor = '7ca78c08-252a-4471-8644-bb5ff32d4ba0'",
        "var searchServiceContributor = '7ca78c08-252a-4471-8644-bb5ff32d4ba0'\n"
        "var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'\n"
        "resource extra 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n"
        "  name: guid(search.id, identityPrincipalId, storageBlobDataContributor)\n"
        "  scope: search\n"
        "  properties: {\n"
        "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "storageBlobDataContributor)\n"
        "    principalId: identityPrincipalId\n"
        "  }\n"
        "}",
    )
    # WHEN checked THEN the role the README does not list for the app is reported
    assert any("granted Storage Blob Data Contributor" in p for p in role_problems(infra_copy)), role_problems(
        infra_copy
    )


def test_parameters_files_module_calls_and_the_hook_match_the_templates():
    assert parameter_problems(ROOT) == []
    assert azure_yaml_problems(ROOT) == []


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        (
            "infra/main.parameters.json",
            '"neo4jUri"',
            '"neo4jURI"',
            "neo4jURI is not a parameter of main.bicep",
        ),
        (
            "infra/main.parameters.json",
            '"neo4jUri"',
            '"neo4jURI"',
            "required parameter neo4jUri is not given",
        ),
        (
            "infra/main.bicep",
            "    lockDuration: queueLockDuration\n",
            "    lockDurations: queueLockDuration\n",
            "module serviceBus passes lockDurations",
        ),
        (
            "infra/modules/functionapp.bicep",
            "param neo4jDatabase string\n",
            "param neo4jDatabase string\nparam neo4jTimeout int\n",
            "does not pass modules/functionapp.bicep's required parameter neo4jTimeout",
        ),
        (
            "infra/hooks/postdeploy.sh",
            'systemTopicName="$AZURE_EVENTGRID_SYSTEM_TOPIC_NAME"',
            'topicName="$AZURE_EVENTGRID_SYSTEM_TOPIC_NAME"',
            "postdeploy.sh passes topicName",
        ),
        (
            "infra/main.bicep",
            "output AZURE_STORAGE_ACCOUNT_NAME string",
            "output AZURE_STORAGE_NAME string",
            "postdeploy.sh reads $AZURE_STORAGE_ACCOUNT_NAME, which main.bicep does not output",
        ),
    ],
)
def test_a_parameter_name_broken_on_either_side_is_reported(infra_copy, relative, old, new, expected):
    mutate(infra_copy, relative, old, new)
    problems = parameter_problems(infra_copy)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  api:\n", "  functions:\n", "services ['functions'] must be the one the app is tagged with ('api')"),
        (
            "run: infra/hooks/postdeploy.sh\n      continueOnError: false\n    windows",
            "run: infra/hooks/post.sh\n      continueOnError: false\n    windows",
            "the posix postdeploy hook infra/hooks/post.sh does not exist",
        ),
        ("  path: infra\n", "  path: deploy\n", "infra.path/infra.module does not name infra/main.bicep"),
    ],
)
def test_azure_yaml_names_the_tagged_service_the_templates_and_the_hook(infra_copy, old, new, expected):
    mutate(infra_copy, "azure.yaml", old, new)
    problems = azure_yaml_problems(infra_copy)
    assert any(expected in problem for problem in problems), problems
