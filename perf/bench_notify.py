"""What a completion notification costs the stage that sends it: one event through the webhook notifier to a local
receiver, per receiver behaviour, with the default retries (3) and time cap (5 s), beside a bare http.client POST of
the same body (the reference: the least any sender pays).

    .venv/bin/python perf/bench_notify.py --events 500

Receiver behaviours: answers 200; always 500 (retried, then dead-lettered); 503 with Retry-After: 10 (more than the
time left: given up at once); never answers (one attempt uses the whole cap); nothing listening (connection refused,
retried with backoff). The dead-letter record itself (a blob, a job issue) is not included.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.adapters.cloud_events import cloud_event, structured
from shared.adapters.notify_webhook import WebhookNotifier
from shared.domain.notifications import DeliveryFailedError, Notification, event_id

BEHAVIOURS = ("ok", "500", "retry-after-10", "hang", "refused")
_mode = {"now": "ok"}


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if _mode["now"] == "hang":
            time.sleep(30)
            return
        self.send_response({"ok": 200, "500": 500, "retry-after-10": 503}[_mode["now"]])
        if _mode["now"] == "retry-after-10":
            self.send_header("Retry-After", "10")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500, help="events timed when the receiver answers 200")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    event = Notification(
        id=event_id("job", "bench", "succeeded"),
        source="/tributary/bench/jobs",
        type="io.tributary.job.succeeded",
        subject="incoming/bench.txt",
        time=datetime.now(UTC),
        data={"job_id": "bench", "state": "succeeded", "counts": {"chunks": 12, "entities": 30}},
        job_id="bench",
        failed=False,
    )

    body = json.dumps(structured(cloud_event(event))).encode()
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port)
    started = time.perf_counter()
    for _ in range(args.events):
        connection.request("POST", "/hook", body, {"Content-Type": "application/cloudevents+json"})
        connection.getresponse().read()
    reference = (time.perf_counter() - started) / args.events
    print(f"{'reference (http.client)':26s} {1000 * reference:9.2f} ms per event")

    for behaviour in BEHAVIOURS:
        _mode["now"] = behaviour
        port = closed_port if behaviour == "refused" else server.server_port
        notifier = WebhookNotifier(f"http://127.0.0.1:{port}/hook")
        runs = args.events if behaviour == "ok" else 1
        outcome = "delivered"
        started = time.perf_counter()
        for _ in range(runs):
            try:
                notifier.publish(event)
            except DeliveryFailedError as failure:
                outcome = f"dead-lettered after {failure.attempts} attempt(s)"
        elapsed = (time.perf_counter() - started) / runs
        print(f"{'receiver: ' + behaviour:26s} {1000 * elapsed:9.2f} ms per event  {outcome}")
        notifier.close()
    print(f"command: .venv/bin/python perf/bench_notify.py --events {args.events}")


if __name__ == "__main__":
    main()
