"""Token counting speed (shared/tokens.py) on the sample corpus, whole and per record-sized line.

.venv/bin/python perf/bench_tokens.py [--repeat 20]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.tokens import token_counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20, help="copies of the samples to count")
    parser.add_argument("--encoding", default="cl100k_base", choices=["cl100k_base", "o200k_base"])
    args = parser.parse_args()
    samples = Path(__file__).resolve().parents[1] / "samples"
    text = "\n".join(path.read_text(encoding="utf-8") for path in sorted(samples.iterdir())) * args.repeat
    started = time.perf_counter()
    count = token_counter(args.encoding)
    count("warm")
    load = time.perf_counter() - started
    started = time.perf_counter()
    tokens = count(text)
    whole = time.perf_counter() - started
    lines = [line for line in text.splitlines() if line.strip()]
    started = time.perf_counter()
    sum(map(count, lines))
    per_line = time.perf_counter() - started
    megabytes = len(text.encode()) / 1e6
    print(
        f"{args.encoding}: load {load:.2f} s; {megabytes:.2f} MB, {tokens} tokens, {len(text) / tokens:.2f} chars/token"
    )
    print(f"whole text {megabytes / whole:.1f} MB/s; {len(lines)} lines one by one {megabytes / per_line:.1f} MB/s")


if __name__ == "__main__":
    main()
