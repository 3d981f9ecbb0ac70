"""The orchestrations perf/bench_durable.py runs on the local host's durable engine: N tiny activities, fanned out
at once or in sequential batches (the shape of a bulk operation)."""

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    size = spec["batch"] or spec["activities"]
    total = 0
    for start in range(0, spec["activities"], size):
        numbers = range(start, min(start + size, spec["activities"]))
        total += sum((yield context.task_all([context.call_activity("double", n) for n in numbers])))
        context.set_custom_status({"done": min(start + size, spec["activities"])})
    return total


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    return 2 * n
