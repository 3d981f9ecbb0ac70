"""The hostile corpus: tests/fixtures/hostile/<kind>/ with an EXPECTED.yaml per folder."""

from functools import cache
from pathlib import Path

import yaml

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
EXPECTED_FILE = "EXPECTED.yaml"


@cache
def expected_outcomes(kind: str) -> dict[str, dict[str, object]]:
    """File name -> `{fails: <reason>}` or `{succeeds: true, issues: [...]}` for one folder of the corpus."""
    return yaml.safe_load((HOSTILE / kind / EXPECTED_FILE).read_text(encoding="utf-8"))


def parse_outcome(path: Path) -> dict[str, object]:
    """What the parse stage makes of one corpus file, as ingest sees it: sniffed by name and bytes, parsed with the
    default limits; `{fails: code}` or `{succeeds: true, issues: [...]}` (the job-level extension mismatch too)."""
    import io

    from shared.domain import ParseIssue, TributaryError
    from shared.parsing import SNIFF_BYTES, ParseLimits, parse, sniff
    from shared.parsing.sniff import EXTENSION_MISMATCH

    data = path.read_bytes()
    try:
        sniffed = sniff(data[:SNIFF_BYTES], path.name)
        issues = {EXTENSION_MISMATCH.value} if sniffed.hint_mismatch else set()
        for item in parse(io.BytesIO(data), sniffed.content_type, ParseLimits()):
            if isinstance(item, ParseIssue):
                issues.add(item.reason_code)
    except TributaryError as error:
        return {"fails": error.reason_code}
    return {"succeeds": True, "issues": sorted(issues)}


def own_peak_rss_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux keeps that across fork and exec, so a child of a large process
    (pytest late in the suite) reports its parent's peak; VmHWM belongs to the process's own address space."""
    import resource

    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


if __name__ == "__main__":
    # python -m tests.support.hostile <kind>: one JSON line per file with its outcome, seconds and peak RSS so far.
    import json
    import sys
    import time

    for file in sorted((HOSTILE / sys.argv[1]).iterdir()):
        if file.name == EXPECTED_FILE:
            continue
        started = time.perf_counter()
        outcome = parse_outcome(file)
        seconds = time.perf_counter() - started
        peak_mb = own_peak_rss_mb()
        print(json.dumps({"name": file.name, "outcome": outcome, "seconds": seconds, "peak_mb": peak_mb}), flush=True)
