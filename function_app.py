"""The Functions app: registers the blueprints in functions/ and nothing else."""

import azure.functions as func

from functions import api

app = func.FunctionApp()
app.register_functions(api.bp)
