"""Checks of infra/ (Bicep, parameters, azure.yaml, the postdeploy hook) against the code and against the tables in
infra/README.md. Each check takes the root of a checkout (or of a copy with a name broken on purpose) and returns
its problems as sentences; the tests assert that the real tree has none and that each mutated copy has some.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.adapters import cosmos_jobstore
from shared.config import ENV_PREFIX, WORKER_THREADS, Settings, sample_settings
from tests.support.bicep import BicepFile, Expr, literal, prop, properties, text

ROOT = Path(__file__).resolve().parents[2]
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Read by the code but deliberately not app settings on Azure, each with the reason.
NOT_ON_AZURE: dict[str, str] = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption takes the runtime from functionAppConfig and rejects the setting",
    "AzureWebJobsStorage": "a connection string holds a key: the identity-based children are set instead",
    "ServiceBusConnection": "a connection string holds a key: the identity-based children are set instead",
    "CosmosConnection": "a connection string holds a key: the identity-based children are set instead",
    "SearchConnection": "a connection string holds a key: the identity-based children are set instead",
    "OpenAIConnection": "a connection string holds a key: the identity-based children are set instead",
    "TRIBUTARY_DOCUMENT_INTELLIGENCE_KEY": "a key: the reader uses the identity when it is unset",
    "TRIBUTARY_NOTIFY_EVENTGRID_KEY": "a key: the Event Grid notifier uses the identity when it is unset",
    "TRIBUTARY_DATA_DIR": "state of the embedded backends (SQLite, LanceDB, the local broker), refused on Azure",
    "TRIBUTARY_STORAGE_ACCOUNT": "the local folder's account name; on Azure the storage connection names the account",
    "TRIBUTARY_DEVHOST_LOCK_SECONDS": "the local broker's lock; on Azure the queues' lockDuration (queueLockDuration)",
    "TRIBUTARY_VECTOR_TABLE": "the LanceDB table (a local-only backend)",
    "TRIBUTARY_FALKORDB_URL": "the graph is Neo4j on Azure (FalkorDB is the local host's server)",
    "TRIBUTARY_FALKORDB_GRAPH": "the graph is Neo4j on Azure (FalkorDB is the local host's server)",
}
# Platform settings the app needs on Azure that no code of ours names, each with the reason.
PLATFORM: dict[str, str] = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "the host (telemetryMode OpenTelemetry) exports to Application Insights",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "telemetry sent with the identity: local auth is off",
    "AzureWebJobsStorage__tableServiceUri": "Durable Functions' task hub (the bulk runs) keeps history in tables",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "the worker configures the Azure Monitor distro; shared/telemetry "
    "adds to it (shared/telemetry/setup.py)",
    "AZURE_CLIENT_ID": "DefaultAzureCredential built without a client id (the Document Intelligence reader) finds the "
    "user-assigned identity by it",
}
# The deployment's choice where it differs from the code's default.
DEPLOYED_VALUES: dict[str, str] = {
    "TRIBUTARY_BUS": "servicebus",
    "TRIBUTARY_GRAPH": "neo4j",
    "TRIBUTARY_VECTORS": "aisearch",
    "TRIBUTARY_EMBEDDER": "azure_openai",
    "TRIBUTARY_EXTRACTOR": "llm",
    "TRIBUTARY_POSTGRES_AUTH": "entra",
}
# What only one job store reads, so the Bicep sets it in that store's branch only.
STORE_SETTINGS: dict[str, tuple[str, ...]] = {
    "cosmosSettings": ("CosmosConnection__", "TRIBUTARY_COSMOS_DATABASE"),
    "postgresSettings": ("TRIBUTARY_POSTGRES_",),
}
# What azd puts into the hooks' environment besides main.bicep's outputs.
AZD_VARIABLES = frozenset({"AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID"})
# Text that would put a key into an app setting.
KEY_MARKERS = re.compile(r"listKeys|listConnectionStrings|AccountKey|SharedAccessKey|primaryKey|\.keys\b", re.I)


@dataclass(frozen=True)
class Binding:
    function: str
    binding: dict[str, Any]


@cache
def app_bindings() -> tuple[Binding, ...]:
    """Every binding of every function, as the Python worker indexes the app (the local host's loader)."""
    from shared.devhost.app_loader import load_app

    app = load_app(ROOT / "function_app.py")
    return tuple(Binding(spec.name, binding) for spec in app.functions for binding in spec.bindings)


def bicep_files(root: Path) -> list[Path]:
    return sorted((root / "infra").rglob("*.bicep"))


def _file(root: Path, relative: str) -> BicepFile:
    return BicepFile(root / "infra" / relative)


# --- syntax -------------------------------------------------------------------------------------------------------


def syntax_problems(root: Path) -> list[str]:
    files = bicep_files(root)
    if not files:
        return [f"no .bicep files under {root / 'infra'}"]
    return [problem for path in files for problem in BicepFile(path).syntax_errors()]


# --- the README's tables ------------------------------------------------------------------------------------------


def readme_table(root: Path, first_column: str) -> list[dict[str, str]]:
    """Rows of the Markdown table in infra/README.md whose first header cell is `first_column`."""
    lines = (root / "infra" / "README.md").read_text().splitlines()
    for index, line in enumerate(lines):
        cells = _cells(line)
        if cells and cells[0] == first_column:
            rows = []
            for row in lines[index + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(cells, _cells(row), strict=True)))
            return rows
    raise AssertionError(f"infra/README.md has no table starting with a {first_column!r} column")


def _cells(line: str) -> list[str]:
    if not line.startswith("|"):
        return []
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def api_version_problems(root: Path) -> list[str]:
    table = readme_table(root, "Resource type")
    documented = {(row["Resource type"], row["API version"]) for row in table}
    problems = []
    for row in table:
        expected = (
            "https://learn.microsoft.com/azure/templates/"
            + _template_path(row["Resource type"], row["API version"]).lower()
        )
        if not row["Source"].startswith(expected):
            problems.append(f"README: the source of {row['Resource type']}@{row['API version']} is not {expected}")
    used: set[tuple[str, str]] = set()
    for path in bicep_files(root):
        for resource in BicepFile(path).resources():
            key = (resource.type, resource.api_version)
            used.add(key)
            if key not in documented:
                problems.append(
                    f"{path.relative_to(root)}:{resource.line}: {resource.type}@{resource.api_version} is not in "
                    "the API-version table of infra/README.md"
                )
    problems += [f"README: {t}@{v} is listed but no template uses it" for t, v in sorted(documented - used)]
    return problems


def _template_path(resource_type: str, version: str) -> str:
    provider, _, path = resource_type.partition("/")
    return f"{provider}/{version}/{path}"


@dataclass(frozen=True)
class RoleAssignment:
    file: str
    role: str  # role-definition id
    principal: str  # the principalId expression


def role_assignments(root: Path) -> list[RoleAssignment]:
    """Every Azure RBAC and Cosmos DB SQL role assignment: the role id it grants and to whom."""
    found = []
    for path in bicep_files(root):
        bicep = BicepFile(path)
        guids = {name: literal(value) for name, value in bicep.variables().items()}
        for resource in bicep.resources():
            if not resource.type.endswith(("/roleAssignments", "/sqlRoleAssignments")) or resource.existing:
                continue
            definition = text(prop(resource.body, "properties", "roleDefinitionId"))
            role = next((guid for name, guid in guids.items() if re.search(rf"\b{name}\b", definition)), definition)
            principal = text(prop(resource.body, "properties", "principalId"))
            found.append(RoleAssignment(str(path.relative_to(root)), str(role), principal))
    return found


def role_problems(root: Path) -> list[str]:
    table = readme_table(root, "Role")
    by_id = {row["Role definition id"]: row for row in table}
    problems = []
    for row in table:
        if not GUID.match(row["Role definition id"]):
            problems.append(f"README: {row['Role']}: {row['Role definition id']!r} is not a role-definition id")
        if not row["Source"].startswith("https://learn.microsoft.com/"):
            problems.append(f"README: {row['Role']}: the source is not a Microsoft Learn page")
    used = set()
    for path in bicep_files(root):
        bicep = BicepFile(path)
        for name, value in bicep.variables().items():
            guid = literal(value)
            if not (isinstance(guid, str) and GUID.match(guid)):
                continue
            used.add(guid)
            row = by_id.get(guid)
            if row is None:
                problems.append(f"{path.relative_to(root)}: {name} = {guid} is not in the role table of the README")
            elif name.lower() != re.sub(r"[^a-z0-9]", "", row["Role"].lower()):
                problems.append(f"{path.relative_to(root)}: {name} holds the id of {row['Role']!r} ({guid})")
        # A role id written inline, not named by a variable, would escape the name check.
        for string in bicep.strings():
            if GUID.match(string) and string not in {literal(v) for v in bicep.variables().values()}:
                problems.append(f"{path.relative_to(root)}: role id {string} is not named by a variable")
    problems += [
        f"README: {row['Role']} ({guid}) is listed but never assigned"
        for guid, row in by_id.items()
        if guid not in used
    ]
    granted = {
        assignment.role for assignment in role_assignments(root) if assignment.principal == "identityPrincipalId"
    }
    documented = {guid for guid, row in by_id.items() if row["Principal"] == "app"}
    problems += [
        f"the app's identity is granted {by_id.get(g, {}).get('Role', g)} ({g}), which the README does not list for it"
        for g in sorted(granted - documented)
    ]
    problems += [
        f"the README lists {by_id[g]['Role']} for the app's identity but no template grants it"
        for g in sorted(documented - granted)
    ]
    return problems


# --- parameters ---------------------------------------------------------------------------------------------------


def parameter_problems(root: Path) -> list[str]:
    problems = []
    main = _file(root, "main.bicep")
    params = main.parameters()
    given = json.loads((root / "infra" / "main.parameters.json").read_text())["parameters"]
    problems += [
        f"main.parameters.json: {name} is not a parameter of main.bicep"
        for name in sorted(given.keys() - params.keys())
    ]
    problems += [
        f"main.parameters.json: main.bicep's required parameter {name} is not given"
        for name, p in sorted(params.items())
        if p.default is None and name not in given
    ]
    for path in bicep_files(root):
        caller = BicepFile(path)
        for module in caller.modules():
            target = path.parent / module.path
            if not target.exists():
                problems.append(f"{path.relative_to(root)}: module {module.symbol}: {module.path} does not exist")
                continue
            declared = BicepFile(target).parameters()
            passed = properties(module.params)
            problems += [
                f"{path.relative_to(root)}: module {module.symbol} passes {name}, which {module.path} does not declare"
                for name in sorted(passed.keys() - declared.keys())
            ]
            problems += [
                f"{path.relative_to(root)}: module {module.symbol} does not pass {module.path}'s required "
                f"parameter {name}"
                for name, p in sorted(declared.items())
                if p.default is None and name not in passed
            ]
    problems += _hook_problems(root, main)
    return problems


def _hook_problems(root: Path, main: BicepFile) -> list[str]:
    hook = (root / "infra" / "hooks" / "postdeploy.sh").read_text()
    template = _file(root, "eventgrid-subscriptions.bicep").parameters()
    passed = dict(re.findall(r"^\s+(\w+)=\"\$(\w+)\"", hook, re.M))
    problems = [
        f"postdeploy.sh passes {name}, not a parameter of eventgrid-subscriptions.bicep"
        for name in sorted(passed.keys() - template.keys())
    ]
    problems += [
        f"postdeploy.sh does not pass eventgrid-subscriptions.bicep's parameter {name}"
        for name, p in sorted(template.items())
        if p.default is None and name not in passed
    ]
    outputs = main.outputs()
    problems += [
        f"postdeploy.sh reads ${variable}, which main.bicep does not output (azd sets the environment from the outputs)"
        for variable in sorted(set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", hook)))
        if variable not in outputs and variable not in AZD_VARIABLES
    ]
    return problems


def azure_yaml_problems(root: Path) -> list[str]:
    path = root / "azure.yaml"
    if not path.exists():
        return ["azure.yaml is not at the repository root, where azd looks for it"]
    config = yaml.safe_load(path.read_text())
    problems = []
    infra = config.get("infra", {})
    if not (root / infra.get("path", "infra") / f"{infra.get('module', 'main')}.bicep").exists():
        problems.append("azure.yaml: infra.path/infra.module does not name infra/main.bicep")
    services = config.get("services", {})
    tagged = literal(
        properties(_module(_file(root, "main.bicep"), "modules/functionapp.bicep").params).get("serviceName")
    )
    if set(services) != {tagged}:
        problems.append(f"azure.yaml: services {sorted(services)} must be the one the app is tagged with ({tagged!r})")
    for name, service in services.items():
        if service.get("host") != "function" or service.get("language") != "python":
            problems.append(f"azure.yaml: service {name} must be host: function, language: python")
        if not (root / service.get("project", "") / "function_app.py").exists():
            problems.append(f"azure.yaml: service {name}'s project holds no function_app.py")
    for platform, hook in config.get("hooks", {}).get("postdeploy", {}).items():
        if not (root / hook["run"]).exists():
            problems.append(f"azure.yaml: the {platform} postdeploy hook {hook['run']} does not exist")
    return problems


def _module(bicep: BicepFile, path: str) -> Any:
    return next(module for module in bicep.modules() if module.path == path)


# --- app settings -------------------------------------------------------------------------------------------------


def binding_settings(bindings: Iterable[Binding]) -> dict[str, str]:
    """The settings the bindings name (`%SETTING%` in any property, and `connection`), with where."""
    found: dict[str, str] = {}
    for entry in bindings:
        for key, value in entry.binding.items():
            if isinstance(value, str):
                for name in re.findall(r"%([^%]+)%", value):
                    found.setdefault(name, f"the {key} of function {entry.function}")
        if connection := entry.binding.get("connection"):
            found.setdefault(connection, f"the connection of function {entry.function}")
    return found


def code_settings(bindings: Iterable[Binding]) -> dict[str, str]:
    """Every setting the code reads on Azure, with where it comes from."""
    found: dict[str, str] = {}
    for field in Settings.model_fields:
        found[f"{ENV_PREFIX}{field.upper()}"] = "shared/config.Settings"
    for name in sample_settings()["Values"]:  # type: ignore[union-attr]
        found.setdefault(name, "shared/config.py connections and worker settings")
    for name, source in binding_settings(bindings).items():
        found.setdefault(name, source)
    found.update({name: "the Functions platform" for name in PLATFORM})
    return found


def bicep_settings(root: Path) -> tuple[BicepFile, dict[str, list[Any]]]:
    """The app settings functionapp.bicep sets: name -> the value nodes it may take (both job-store branches)."""
    bicep = _file(root, "modules/functionapp.bicep")
    settings = next(r for r in bicep.resources() if r.type == "Microsoft.Web/sites/config")
    return bicep, bicep.object_entries(prop(settings.body, "properties"))


def settings_problems(root: Path, bindings: Sequence[Binding]) -> list[str]:
    expected = code_settings(bindings)
    stale = [
        f"NOT_ON_AZURE names {name}, which the code does not read" for name in NOT_ON_AZURE if name not in expected
    ]
    expected = {name: source for name, source in expected.items() if name not in NOT_ON_AZURE}
    _, actual = bicep_settings(root)
    problems = stale + [
        f"app setting {name} (read by {source}) is not set by infra/modules/functionapp.bicep"
        for name, source in sorted(expected.items())
        if name not in actual
    ]
    problems += [
        f"infra/modules/functionapp.bicep sets {name}, which the code does not read"
        + (f" ({NOT_ON_AZURE[name]})" if name in NOT_ON_AZURE else "")
        for name in sorted(actual)
        if name not in expected
    ]
    return problems


def setting_value_problems(root: Path) -> list[str]:
    bicep, actual = bicep_settings(root)
    problems = []
    for name, values in sorted(actual.items()):
        for value in values:
            resolved = bicep.resolve(value)
            if KEY_MARKERS.search(text(resolved)):
                problems.append(f"app setting {name} = {text(resolved)} would carry a key")
            options = (
                [literal(bicep.resolve(resolved.child_by_field_name(b))) for b in ("consequence", "alternative")]
                if resolved.type == "ternary_expression"
                else [literal(resolved)]
            )
            problems += _value_problems(name, options, is_choice=resolved.type == "ternary_expression")
    for store, names in STORE_SETTINGS.items():
        branch = bicep.object_entries(bicep.variables().get(store))
        stray = [n for n in actual if n.startswith(names) and n not in branch]
        problems += [f"{n} is read only by one job store but is set outside {store}" for n in stray]
    return problems


def _value_problems(name: str, options: list[Any], *, is_choice: bool) -> list[str]:
    problems = []
    for value in options:
        if isinstance(value, Expr):
            if (name.endswith("__clientId") or name == "AZURE_CLIENT_ID") and value.text != "identityClientId":
                problems.append(f"app setting {name} = {value.text}: not the app's identity")
            continue
        if name.endswith("__credential") and value != "managedidentity":
            problems.append(f"app setting {name} = {value!r}: connections use the managed identity")
        if name == "PYTHON_THREADPOOL_THREAD_COUNT" and value != str(WORKER_THREADS):
            problems.append(f"app setting {name} = {value!r}, but shared/config.WORKER_THREADS is {WORKER_THREADS}")
        if not name.startswith(ENV_PREFIX):
            continue
        field = name[len(ENV_PREFIX) :].lower()
        if field not in Settings.model_fields:
            continue  # reported by settings_problems
        default = Settings.model_fields[field].default
        wanted = DEPLOYED_VALUES.get(name, "" if default is None else str(default))
        if not is_choice and value != wanted:
            problems.append(
                f"app setting {name} = {value!r}, but the code's default is {wanted!r} (change both, "
                "or record the deployment's choice in DEPLOYED_VALUES)"
            )
        if value != "":
            try:
                Settings(**{field: value})
            except ValidationError as error:
                problems.append(f"app setting {name} = {value!r} is refused by Settings: {error.errors()[0]['msg']}")
    return problems


# --- queues, delivery cap, job store, events, Flex -----------------------------------------------------------------


def queue_problems(root: Path) -> list[str]:
    main = _file(root, "main.bicep")
    problems = []
    defaults = Settings.model_construct().queues
    queue_names = literal(main.variables().get("queueNames"))
    if queue_names != defaults:
        problems.append(f"main.bicep queueNames {queue_names} must be the code's stage queues {defaults}")
    cap_default = literal(main.parameters()["maxDeliveryCount"].default)
    if cap_default != Settings.model_fields["max_delivery_count"].default:
        problems.append(
            f"main.bicep maxDeliveryCount defaults to {cap_default}, the code to "
            f"{Settings.model_fields['max_delivery_count'].default}"
        )
    for module_path in ("modules/servicebus.bicep", "modules/functionapp.bicep"):
        passed = properties(_module(main, module_path).params)
        for param in ("queueNames", "maxDeliveryCount"):
            if text(passed.get(param)) != param:
                problems.append(
                    f"main.bicep passes {module_path} {param}: {text(passed.get(param))!r}, not the one "
                    f"{param} both the queues and the app read"
                )
    servicebus = _file(root, "modules/servicebus.bicep")
    queues = next(r for r in servicebus.resources() if r.type == "Microsoft.ServiceBus/namespaces/queues")
    if "in items(queueNames)" not in text(queues.declaration):
        problems.append("servicebus.bicep: the queues are not created from queueNames")
    expected_properties = {
        "requiresDuplicateDetection": True,
        "maxDeliveryCount": Expr("maxDeliveryCount"),
        "deadLetteringOnMessageExpiration": True,
        "lockDuration": Expr("lockDuration"),
        "duplicateDetectionHistoryTimeWindow": Expr("duplicateDetectionWindow"),
    }
    actual = literal(prop(queues.body, "properties"))
    for key, value in expected_properties.items():
        if actual.get(key) != value:
            problems.append(f"servicebus.bicep: queue property {key} is {actual.get(key)!r}, expected {value!r}")
    _, settings = bicep_settings(root)
    for stage in defaults:
        value = [text(v) for v in settings.get(f"TRIBUTARY_QUEUE_{stage.upper()}", [])]
        if value != [f"queueNames.{stage}"]:
            problems.append(f"functionapp.bicep: TRIBUTARY_QUEUE_{stage.upper()} is {value}, not queueNames.{stage}")
    cap = [text(v) for v in settings.get("TRIBUTARY_MAX_DELIVERY_COUNT", [])]
    if cap != ["string(maxDeliveryCount)"]:
        problems.append(f"functionapp.bicep: TRIBUTARY_MAX_DELIVERY_COUNT is {cap}, not string(maxDeliveryCount)")
    return problems


def cosmos_problems(root: Path) -> list[str]:
    cosmos = _file(root, "modules/cosmos.bicep")
    problems = []
    containers = {}
    for resource in cosmos.resources():
        if resource.type != "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers":
            continue
        body = literal(resource.body)
        definition = body["properties"]["resource"]
        if definition["id"] != body["name"]:
            problems.append(f"cosmos.bicep: container {body['name']} has resource id {definition['id']}")
        containers[definition["id"]] = definition
    wanted = cosmos_jobstore._CONTAINERS
    partition_keys = {name: c["partitionKey"]["paths"] for name, c in containers.items()}
    if partition_keys != {name: [path] for name, path in wanted.items()}:
        problems.append(f"cosmos.bicep: containers and partition keys {partition_keys} are not the store's {wanted}")
    jobs = containers.get(cosmos_jobstore.JOBS_CONTAINER, {})
    if jobs.get("indexingPolicy") != cosmos_jobstore._JOBS_INDEXING:
        problems.append("cosmos.bicep: the jobs container's indexing policy is not the store's (_JOBS_INDEXING)")
    main = _file(root, "main.bicep")
    database = literal(main.variables().get("cosmosDatabase"))
    if database != Settings.model_fields["cosmos_database"].default:
        problems.append(f"main.bicep cosmosDatabase {database!r} is not the code's default")
    if text(properties(_module(main, "modules/cosmos.bicep").params).get("databaseName")) != "cosmosDatabase":
        problems.append("main.bicep: the Cosmos DB module's database is not cosmosDatabase")
    if text(properties(_module(main, "modules/functionapp.bicep").params).get("cosmosDatabase")) != "cosmosDatabase":
        problems.append("main.bicep: the app's TRIBUTARY_COSMOS_DATABASE is not cosmosDatabase")
    return problems


def eventgrid_problems(root: Path, bindings: Sequence[Binding]) -> list[str]:
    subscriptions = _file(root, "eventgrid-subscriptions.bicep")
    problems = []
    blob = [b for b in bindings if b.binding["type"] == "blobTrigger" and b.binding.get("source") == "EventGrid"]
    events = [b for b in bindings if b.binding["type"] == "eventGridTrigger"]
    created, deleted = "Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted"
    wanted = {
        f"/blobs?functionName=Host.Functions.{b.function}&code=${{systemKeys.blobs_extension}}": created for b in blob
    }
    wanted |= {
        f"/eventgrid?functionName={b.function}&code=${{systemKeys.eventgrid_extension}}": deleted for b in events
    }
    found: dict[str, str] = {}
    incoming_subject = text(subscriptions.variables().get("incomingSubject"))
    if incoming_subject != "'/blobServices/default/containers/${incomingContainer}/'":
        problems.append(
            f"eventgrid-subscriptions.bicep: incomingSubject is {incoming_subject}, not the incoming container's prefix"
        )
    for resource in subscriptions.resources():
        if resource.type != "Microsoft.EventGrid/systemTopics/eventSubscriptions":
            continue
        body = prop(resource.body, "properties")
        url = text(prop(body, "destination", "properties", "endpointUrl"))
        types = literal(prop(body, "filter", "includedEventTypes"))
        if text(prop(body, "filter", "subjectBeginsWith")) != "incomingSubject":
            problems.append(
                f"eventgrid-subscriptions.bicep: {resource.symbol} is not filtered to the incoming container"
            )
        if prop(body, "deadLetterWithResourceIdentity") is None:
            problems.append(f"eventgrid-subscriptions.bicep: {resource.symbol} has no dead-letter destination")
        # '${baseUrl}/blobs?functionName=...&code=${...}': the part after the webhook root
        path = url.removeprefix("'${baseUrl}").removesuffix("'")
        found[path] = ",".join(types) if isinstance(types, list) else str(types)
    if found != wanted:
        problems.append(
            f"eventgrid-subscriptions.bicep: webhooks {found} are not the app's event-triggered functions {wanted}"
        )
    base = text(subscriptions.variables().get("baseUrl"))
    if "/runtime/webhooks'" not in base:
        problems.append(f"eventgrid-subscriptions.bicep: baseUrl {base} is not the host's webhook root")
    sites = {
        row["API version"]
        for row in readme_table(root, "Resource type")
        if row["Resource type"] == "Microsoft.Web/sites"
    }
    keys = re.findall(r"listKeys\([^,]+,\s*'([^']+)'\)", subscriptions.source.decode())
    if not keys or set(keys) - sites:
        problems.append(f"eventgrid-subscriptions.bicep: listKeys uses API version {keys}, not the site's {sites}")
    return problems


def flex_problems(root: Path) -> list[str]:
    app = _file(root, "modules/functionapp.bicep")
    problems = []
    plan = next(r for r in app.resources() if r.type == "Microsoft.Web/serverfarms")
    if literal(prop(plan.body, "sku")) != {"name": "FC1", "tier": "FlexConsumption"}:
        problems.append("functionapp.bicep: the plan is not Flex Consumption (FC1)")
    site = next(r for r in app.resources() if r.type == "Microsoft.Web/sites")
    config = literal(prop(site.body, "properties", "functionAppConfig"))
    python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    runtime = config.get("runtime", {})
    if runtime.get("name") != "python" or f">={runtime.get('version')}," not in python:
        problems.append(f"functionapp.bicep: runtime {runtime} is not the project's Python ({python})")
    scale = config.get("scaleAndConcurrency", {})
    if scale != {"instanceMemoryMB": Expr("instanceMemoryMB"), "maximumInstanceCount": Expr("maximumInstanceCount")}:
        problems.append(f"functionapp.bicep: scaleAndConcurrency {scale} does not come from the parameters")
    storage = config.get("deployment", {}).get("storage", {})
    if storage.get("type") != "blobContainer" or storage.get("authentication", {}).get("type") != (
        "UserAssignedIdentity"
    ):
        problems.append("functionapp.bicep: the deployment container is not read with the user-assigned identity")
    if text(prop(site.body, "properties", "keyVaultReferenceIdentity")) != "identityId":
        problems.append("functionapp.bicep: Key Vault references do not resolve with the user-assigned identity")
    main = _file(root, "main.bicep")
    passed = properties(_module(main, "modules/functionapp.bicep").params)
    for param in ("instanceMemoryMB", "maximumInstanceCount"):
        if param not in main.parameters() or text(passed.get(param)) != param:
            problems.append(f"main.bicep: {param} is not a parameter passed to the Function app")
    return problems


# Where each service turns key (local) authentication off, so a key could not be used even if one leaked.
LOCAL_AUTH_OFF: dict[str, tuple[tuple[str, ...], Any]] = {
    "Microsoft.Storage/storageAccounts": (("properties", "allowSharedKeyAccess"), False),
    "Microsoft.ServiceBus/namespaces": (("properties", "disableLocalAuth"), True),
    "Microsoft.DocumentDB/databaseAccounts": (("properties", "disableLocalAuth"), True),
    "Microsoft.Search/searchServices": (("properties", "disableLocalAuth"), True),
    "Microsoft.CognitiveServices/accounts": (("properties", "disableLocalAuth"), True),
    "Microsoft.Insights/components": (("properties", "DisableLocalAuth"), True),
    "Microsoft.DBforPostgreSQL/flexibleServers": (("properties", "authConfig", "passwordAuth"), "Disabled"),
}
# The one template that may read keys: the Event Grid webhooks need the host's extension keys (hooks/postdeploy.sh).
KEY_READER = "eventgrid-subscriptions.bicep"


def key_problems(root: Path) -> list[str]:
    """Every service the templates create has key authentication off, and no template but the Event Grid one
    calls a list* function (listKeys, listConnectionStrings, ...)."""
    problems = []
    for path in bicep_files(root):
        bicep = BicepFile(path)
        for resource in bicep.resources():
            if resource.existing or resource.type not in LOCAL_AUTH_OFF:
                continue
            property_path, wanted = LOCAL_AUTH_OFF[resource.type]
            actual = literal(prop(resource.body, *property_path))
            if actual != wanted:
                problems.append(
                    f"{path.relative_to(root)}: {resource.symbol} {'.'.join(property_path)} is "
                    f"{actual!r}, not {wanted!r}: key authentication stays on"
                )
        if path.name != KEY_READER:
            calls = [
                text(node)
                for node in _nodes(bicep.root, "call_expression")
                if text(node.child_by_field_name("function")).split(".")[-1].startswith("list")
            ]
            problems += [f"{path.relative_to(root)}: {call} reads a key" for call in calls]
    return problems


def _nodes(node: Any, node_type: str) -> list[Any]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if current.type == node_type:
            found.append(current)
        stack.extend(current.children)
    return found


# The platform metrics alerted on: (metric namespace, metric name) -> split by queue (EntityName) or not.
ALERTED_METRICS: dict[tuple[str, str], bool] = {
    ("Microsoft.ServiceBus/namespaces", "DeadletteredMessages"): True,
    ("Microsoft.ServiceBus/namespaces", "ActiveMessages"): True,
    ("Microsoft.Insights/components", "requests/failed"): False,
    ("Microsoft.Storage/storageAccounts/queueServices", "QueueMessageCount"): False,
    ("Microsoft.EventGrid/systemTopics", "DeadLetteredCount"): False,
}


def alert_problems(root: Path) -> list[str]:
    """One rule per alerted metric; the per-queue ones cover every stage queue (the list main.bicep derives from
    queueNames)."""
    alerts = _file(root, "modules/alerts.bicep")
    problems = []
    found: dict[tuple[str, str], bool] = {}
    for resource in alerts.resources():
        if resource.type != "Microsoft.Insights/metricAlerts":
            continue
        for criterion in literal(prop(resource.body, "properties", "criteria", "allOf")) or []:
            dimensions = criterion.get("dimensions", [])
            split = any(d.get("name") == "EntityName" and d.get("values") == Expr("queueNames") for d in dimensions)
            found[(criterion.get("metricNamespace"), criterion.get("metricName"))] = split
    if found != ALERTED_METRICS:
        problems.append(f"alerts.bicep: alerted metrics {found} are not {ALERTED_METRICS}")
    passed = text(properties(_module(_file(root, "main.bicep"), "modules/alerts.bicep").params).get("queueNames"))
    if passed != "map(items(queueNames), queue => queue.value)":
        problems.append(f"main.bicep: the alerts watch queues {passed}, not every queue of queueNames")
    return problems
