"""The Functions app: registers the blueprints in functions/ and nothing else."""

import azure.functions as func

from functions import api, bulk, ingest, stages

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(api.bp)
app.register_functions(bulk.bp)
app.register_functions(ingest.bp)
app.register_functions(stages.bp)
