"""What the LLM extractor's response cache saves: the samples ingested with TRIBUTARY_EXTRACTOR=llm, then the same
files again under other names (new documents, the same chunk texts), as a user runs them.

    .venv/bin/python perf/bench_llm_cache.py

The chat deployment is the OpenAI stand-in (tests/support/openai_standin.py) answering from a small gazetteer, so
token counts are the stand-in's (cl100k of the prompt, the schema and the answer), not a real model's; what matters
is the ratio. `tributary ingest` runs in a subprocess on the embedded default (SQLite job store, a local blob folder
holding the cache). Prints the chat requests and tokens of each run, and the chunks each run took from the cache.
"""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.adapters.sqlite_jobstore import SQLiteJobStore
from tests.functional.test_llm_pipeline import SAMPLE_MODEL
from tests.support.openai_standin import CHAT_DEPLOYMENT, KEY, OpenAIStandIn
from tests.support.pipeline import SAMPLES


def ingest(folder: Path, data: Path, standin: OpenAIStandIn) -> float:
    env = {
        "PATH": "/usr/bin:/bin",
        "TRIBUTARY_EXTRACTOR": "llm",
        "TRIBUTARY_AZURE_OPENAI_CHAT_DEPLOYMENT": CHAT_DEPLOYMENT,
        "OpenAIConnection": f"Endpoint={standin.endpoint};Key={KEY}",
    }
    started = time.perf_counter()
    command = [sys.executable, "-m", "shared.cli", "ingest", str(folder), "--data-dir", str(data)]
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def totals(data: Path, folder: str) -> dict[str, int]:
    with SQLiteJobStore(data / "jobs.sqlite") as store:
        records = [
            record
            for job in store.list_jobs(limit=100_000)
            if f"{folder}/samples/" in job.path
            for record in store.list_extractions(job.job_id)
        ]
    names = ("requests", "input_tokens", "output_tokens", "model_chunks", "cached_chunks", "fallback_chunks")
    return {name: sum(getattr(record, name) for record in records) for name in names} | {"batches": len(records)}


def main() -> None:
    standin = OpenAIStandIn().start()
    standin.chat_responder = SAMPLE_MODEL
    with tempfile.TemporaryDirectory(prefix="llm-bench-") as temporary:
        root = Path(temporary)
        for folder in ("first", "again"):  # under samples/: ingestion.yaml's sample rules apply to both
            shutil.copytree(SAMPLES, root / folder / "samples")
        seconds = {folder: ingest(root / folder, root / "data", standin) for folder in ("first", "again")}
        seen = {folder: totals(root / "data", folder) for folder in ("first", "again")}
    standin.stop()
    print(f"{len(list(SAMPLES.iterdir()))} sample files, stand-in chat deployment, embedded default")
    print(
        f"{'run':<8}{'batches':>8}{'requests':>10}{'tokens in':>11}{'tokens out':>11}"
        f"{'model':>7}{'cached':>8}{'fallback':>9}{'seconds':>9}"
    )
    for folder, row in seen.items():
        print(
            f"{folder:<8}{row['batches']:>8}{row['requests']:>10}{row['input_tokens']:>11}{row['output_tokens']:>11}"
            f"{row['model_chunks']:>7}{row['cached_chunks']:>8}{row['fallback_chunks']:>9}{seconds[folder]:>9.1f}"
        )
    print(f"chat requests the stand-in saw: {len(standin.chat_requests())}")


if __name__ == "__main__":
    main()
