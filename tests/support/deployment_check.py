"""Run inside the deployment virtual environment (see deployment.py): import and index the app as the Python worker
does, import every adapter that may run on Azure, call /api/health as on Azure, and print one JSON line.

Only the standard library and the package's own requirements are available here: no pytest, no test helpers.
"""

import importlib
import json
import os
import sys

package = sys.argv[1]
sys.path.insert(0, package)  # the worker runs with the app root on sys.path

import azure.functions as func  # noqa: E402

app_module = importlib.import_module("function_app")
registers = [value for value in vars(app_module).values() if isinstance(value, func.FunctionRegister)]
if len(registers) != 1:
    raise SystemExit(f"function_app defines {len(registers)} FunctionRegister instances; the worker needs one")
indexed = registers[0].get_functions()  # what the worker calls to index the app
functions = {}
for function in indexed:
    bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
    trigger = next(binding for binding in bindings if binding["type"].endswith("Trigger"))
    functions[function.get_function_name()] = trigger["type"]

from shared.wiring import backends  # noqa: E402

adapters = sorted(backend.module for backend in backends() if not backend.local_only)
for module in adapters:
    importlib.import_module(module)

# Parsers are imported on first use: import each one here, so a parser needing a package requirements.txt lacks fails.
from shared.parsing import CONTENT_TYPES  # noqa: E402
from shared.parsing.package import READERS  # noqa: E402

parsers = sorted({module for module, _ in CONTENT_TYPES.values()} | {module for _, module, _ in READERS.values()})
for module in parsers:
    importlib.import_module(module)

# On Azure (the platform's marker) with the defaults, which name local-only backends: health must say so.
os.environ["WEBSITE_INSTANCE_ID"] = "deployment-check"
health = next(function for function in indexed if function.get_function_name() == "health")
response = health.get_user_function()(func.HttpRequest("GET", "/api/health", body=b""))

print(
    json.dumps(
        {
            "functions": functions,
            "adapters": adapters,
            "parsers": parsers,
            "modules": sorted({name.split(".")[0] for name in sys.modules}),
            "shared_modules": sorted(name for name in sys.modules if name.startswith("shared")),
            "health": {"status": response.status_code, "body": json.loads(response.get_body())},
        }
    )
)
