"""What telemetry costs a stage message when no exporter is configured (the OpenTelemetry API's no-op).

    .venv/bin/python perf/bench_telemetry.py --messages 20000

Times what the pipeline does per stage message in shared/telemetry: the stage span (its parent from a
traceparent), a sink span, the traceparent for the next message, and two metric points. Run it in a fresh process,
so that no exporter has been set up (the figure is the "off" cost; bench_ingest.py --telemetry local shows "on").
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.telemetry import Span, current_traceparent, metrics, sink_span, stage_span

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    started = time.perf_counter()
    for batch in range(args.messages):
        with stage_span(
            stage="graph",
            queue="graph",
            job_id="job",
            tracking_id="4bf92f3577b34da6a3ce929d0e0e4736",
            traceparent=PARENT,
            batch=batch,
            message_id="message",
        ):
            with sink_span(Span.GRAPH_WRITE, "falkordb", 64):
                pass
            current_traceparent()
            metrics.stage_processed("graph", "graph", 0.1, "done")
            metrics.message_age("graph", 0.5)
    per_message = (time.perf_counter() - started) / args.messages
    figures = {"command": " ".join(["python", *sys.argv]), "microseconds_per_message": round(per_message * 1e6, 1)}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
