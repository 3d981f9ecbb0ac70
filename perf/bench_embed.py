"""Embedding and language-detection speed on this machine: chunks/s of each embedder that runs here, side by side.

    .venv/bin/python perf/bench_embed.py [--chars 1200 2000] [--chunks 128] [--repeat 3] [--threads 1 2]

Chunks are the text of samples/ cut at word boundaries into pieces of about `--chars` characters (1200 is
TRIBUTARY_CHUNK_MAX_CHARS's default; 2000 is about 512 cl100k tokens, the chunk target of issue 11), repeated until
there are `--chunks` of them. Each embedder embeds them in batches of 64 (TRIBUTARY_BATCH_MAX_CHUNKS, one enrich
message); the best of `--repeat` passes is reported, by the wall clock and by CPU time. The hashing embedder is the
reference. The local model runs with each `--threads` (ONNX Runtime intra-op threads) and truncates at 256 word
pieces, so a 2000-character chunk costs it no more than about 1100 characters do. Language detection
(`shared.pipeline.language.detect`) is timed on the same chunks. Azure OpenAI is not timed here: its speed is the
service's and the deployment's quota, not this machine's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 64


def sample_chunks(chars: int, count: int) -> list[str]:
    words = " ".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "samples").rglob("*.*"))).split()
    pieces, current = [], []
    size = 0
    for word in words:
        current.append(word)
        size += len(word) + 1
        if size >= chars:
            pieces.append(" ".join(current))
            current, size = [], 0
    return [pieces[index % len(pieces)] for index in range(count)]


def rates(run: Callable[[Sequence[str]], object], chunks: list[str], repeat: int) -> str:
    """Chunks/s by the wall clock and by this process's CPU time (every thread's), each the best of `repeat`.

    On a machine shared with other work the CPU figure moves less; with several threads it adds theirs up."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(chunks), BATCH):
            run(chunks[start : start + BATCH])
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - cpu_started)
    return f"{len(chunks) / wall:10.1f} chunks/s (wall) {len(chunks) / cpu:10.1f} chunks/CPU-s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, nargs="+", default=[1200, 2000])
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    from shared.adapters.hashing_embedder import HashingEmbedder
    from shared.adapters.local_embedder import LocalModelEmbedder
    from shared.pipeline.language import detect

    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {os.cpu_count()} cores; chunks: {args.chunks}, batches of {BATCH}, best of {args.repeat}")
    detect("warm-up: the language model loads on first use")
    hashing = HashingEmbedder(256)
    local = {threads: LocalModelEmbedder(threads=threads) for threads in args.threads}
    for chars in args.chars:
        chunks = sample_chunks(chars, args.chunks)
        print(f"\n~{chars} characters a chunk:")
        print(f"  {'hashing-256 (reference)':36} {rates(hashing.embed, chunks, args.repeat)}")
        for threads, model in local.items():
            print(f"  {f'local MiniLM-L6 int8, {threads} thread(s)':36} {rates(model.embed, chunks, args.repeat)}")
        language = rates(lambda batch: [detect(text) for text in batch], chunks, args.repeat)
        print(f"  {'language detection (py3langid)':36} {language}")


if __name__ == "__main__":
    main()
