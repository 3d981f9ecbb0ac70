"""The local host's durable engine on one orchestration of N activities: wall time, orchestration episodes (each
replays the whole history through the SDK), history length and peak RSS, one fresh process per run.

.venv/bin/python perf/bench_durable.py --activities 2000 --batch 0 100 [--window 0.5 0]

`--batch 0` fans all N out in one task_all; `--batch B` runs N/B task_alls one after another (a bulk operation's
shape). `--window` is the engine's batch window (seconds an episode waits for more completions while work is
outstanding); 0 runs an episode whenever one is free to run — the reference the window is measured against.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

APP = ROOT / "perf" / "durable_app" / "bench_durable_app.py"


def run_once(activities: int, batch: int, window: float, workers: int) -> dict[str, float]:
    from shared.devhost.app_loader import load_app
    from shared.devhost.durable.engine import DurableEngine
    from shared.devhost.host_config import DurableTaskOptions
    from shared.devhost.invoke import invoke

    functions = load_app(APP).functions
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime  # imports and app indexing excluded
    with tempfile.TemporaryDirectory(prefix="durablehost-bench-") as data_dir, ThreadPoolExecutor(workers) as pool:
        engine = DurableEngine(
            functions,
            Path(data_dir),
            pool,
            lambda spec, inputs: invoke(spec, inputs).result,
            DurableTaskOptions(maxConcurrentActivityFunctions=workers * 4),
            batch_window=window,
        )
        started = time.perf_counter()
        engine.store.start("bench", "fan_out", json.dumps({"activities": activities, "batch": batch}))
        while True:
            engine.poll()
            instance = engine.store.get("bench")
            if instance is not None and instance.status in ("Completed", "Failed"):
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        history = len(engine.store.history("bench"))
        episodes = engine.episodes_run
        engine.close()
    assert instance.status == "Completed", instance.output
    assert json.loads(instance.output or "0") == activities * (activities - 1), instance.output
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    return {"seconds": seconds, "cpu": cpu, "episodes": episodes, "history": history, "rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, nargs="+", default=[2000])
    parser.add_argument("--batch", type=int, nargs="+", default=[0, 100], help="0: one task_all of all N")
    parser.add_argument("--window", type=float, nargs="+", default=[0.5, 0.0])
    parser.add_argument("--workers", type=int, default=6, help="the worker pool (min(32, cores + 4) on 2 cores)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_once(**json.loads(args.one))))
        return
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print("| activities | batch | window s | seconds | CPU s | episodes | history events | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for activities in args.activities:
        for batch in args.batch:
            for window in args.window:
                one = {"activities": activities, "batch": batch, "window": window, "workers": args.workers}
                out = subprocess.run(
                    [sys.executable, __file__, "--one", json.dumps(one)], capture_output=True, text=True, check=True
                )
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"| {activities} | {batch or 'all'} | {window} | {figures['seconds']:.2f} | {figures['cpu']:.2f} "
                    f"| {figures['episodes']} "
                    f"| {figures['history']} | {figures['rss_mb']:.0f} |"
                )


if __name__ == "__main__":
    main()
