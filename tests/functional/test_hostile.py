"""The hostile corpus (tests/fixtures/hostile/<kind>/): every crafted file through the whole pipeline, driven by the
local host (function_app.py's triggers), each with its exact outcome from the EXPECTED.yaml of its folder, and a
mixed batch in which the good files still succeed. The corpus is dropped once per module and run until idle; each
case's test then reads its own outcome.

EXPECTED.yaml maps a file name to `{fails: <reason code>}` or `{succeeds: true, issues: [<reason code>, …]}`
(issues: the exact set of reason codes recorded on the job; empty or absent for none).
"""

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from shared.domain import Job, JobState
from tests.support.host_pipeline import HostPipeline
from tests.support.hostile import EXPECTED_FILE, HOSTILE

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(600)]

Found = tuple[JobState, str | None, frozenset[str]]

MINIMUM_CORPUS = 40

GOOD_FILES = {
    "good/staff.csv": b"name,company,manager\nAda Lovelace,Acme Labs,\nGrace Hopper,Acme Labs,Ada Lovelace\n",
    "good/launch.txt": b"Ada Lovelace works at Acme Labs in Paris.\n\nGrace Hopper joined Globex Corporation.\n",
    "good/notes.md": b"# Notes\n\nZo\xc3\xab Okafor leads Project Heron.\n",
}


@dataclass(frozen=True)
class Case:
    """One hostile file and the outcome its folder's EXPECTED.yaml promises."""

    path: Path
    blob_name: str
    fails: str | None
    issues: frozenset[str]

    @property
    def content(self) -> bytes:
        return self.path.read_bytes()


def load_cases() -> tuple[list[Case], list[str]]:
    """Every listed case, and every problem with the corpus itself (unlisted files, missing files, bad entries)."""
    cases: list[Case] = []
    problems: list[str] = []
    # Files at the top (a generator script, a README) belong to no kind; every folder below must list its files.
    folders = sorted({path.parent for path in HOSTILE.rglob("*") if path.is_file() and path.parent != HOSTILE})
    for folder in folders:
        listed = _read_expected(folder, problems)
        present = {path.name for path in folder.iterdir() if path.is_file() and path.name != EXPECTED_FILE}
        problems += [f"{folder.relative_to(HOSTILE)}/{name}: not in {EXPECTED_FILE}" for name in present - set(listed)]
        problems += [f"{folder.relative_to(HOSTILE)}/{name}: listed but missing" for name in set(listed) - present]
        for name in sorted(set(listed) & present):
            case = _case(folder / name, listed[name], problems)
            if case is not None:
                cases.append(case)
    return cases, problems


def _read_expected(folder: Path, problems: list[str]) -> dict[str, object]:
    expected = folder / EXPECTED_FILE
    if not expected.is_file():
        problems.append(f"{folder.relative_to(HOSTILE)}: no {EXPECTED_FILE}")
        return {}
    data = yaml.safe_load(expected.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        problems.append(f"{expected.relative_to(HOSTILE)}: must map file names to outcomes")
        return {}
    return {str(name): outcome for name, outcome in data.items()}


def _case(path: Path, outcome: object, problems: list[str]) -> Case | None:
    label = str(path.relative_to(HOSTILE))
    blob_name = f"hostile/{label}"
    if isinstance(outcome, dict) and set(outcome) == {"fails"} and isinstance(outcome["fails"], str):
        return Case(path, blob_name, outcome["fails"], frozenset())
    if isinstance(outcome, dict) and outcome.get("succeeds") is True and set(outcome) <= {"succeeds", "issues"}:
        issues = outcome.get("issues") or []
        if isinstance(issues, list) and all(isinstance(code, str) for code in issues):
            return Case(path, blob_name, None, frozenset(issues))
    problems.append(f"{label}: outcome must be {{fails: <code>}} or {{succeeds: true, issues: [...]}}, got {outcome!r}")
    return None


CASES, CORPUS_PROBLEMS = load_cases()


def outcome_of(pipeline: HostPipeline, job: Job) -> Found:
    """(state, reason code, set of issue reason codes) of an ingest's job."""
    issues = pipeline.ports.jobs.list_issues(job.job_id, limit=10_000)
    assert job.issues == len(issues), "the job's counter matches the issues stored"
    return job.state, job.reason_code, frozenset(issue.reason_code for issue in issues)


@pytest.fixture(scope="module")
def corpus_outcomes(module_host_pipeline: HostPipeline) -> dict[str, Found]:
    """Every hostile file dropped into one host at once, run until idle: the outcome of each, by blob name."""
    jobs = module_host_pipeline.drop_all({case.blob_name: case.content for case in CASES})
    return {name: outcome_of(module_host_pipeline, job) for name, job in jobs.items()}


def expected_of(case: Case) -> tuple[JobState, str | None, frozenset[str]] | tuple[JobState, str]:
    return (JobState.SUCCEEDED, None, case.issues) if case.fails is None else (JobState.FAILED, case.fails)


def actual_for(case: Case, found: Found) -> tuple:
    # A failed file's issues found before it failed are not part of its promise: only the reason code is.
    return found if case.fails is None else found[:2]


def test_the_corpus_is_complete_and_every_file_is_listed():
    assert CORPUS_PROBLEMS == []
    assert len(CASES) >= MINIMUM_CORPUS, f"only {len(CASES)} hostile files; the corpus needs {MINIMUM_CORPUS}"
    kinds = {case.path.parent for case in CASES}
    assert len(kinds) >= 2


@pytest.mark.parametrize("case", CASES, ids=[case.blob_name.removeprefix("hostile/") for case in CASES])
def test_each_hostile_file_gets_exactly_its_expected_outcome(corpus_outcomes: dict[str, Found], case: Case):
    # GIVEN one crafted file, dropped through the whole pipeline with the rest of the corpus
    found = corpus_outcomes[case.blob_name]
    # THEN it failed with exactly its reason code, or succeeded with exactly its set of issue codes
    assert actual_for(case, found) == expected_of(case)


def test_a_mixed_batch_keeps_every_outcome_and_every_good_file(module_host_pipeline: HostPipeline):
    # GIVEN every hostile file and three good ones, uploaded together under their own folder: good files first, in
    # the middle and last
    pipeline = module_host_pipeline
    middle = len(CASES) // 2
    good = [(f"mixed/{name}", content) for name, content in GOOD_FILES.items()]
    batch = [good[0], *((f"mixed/{c.blob_name}", c.content) for c in CASES[:middle]), good[1]]
    batch += [*((f"mixed/{c.blob_name}", c.content) for c in CASES[middle:]), good[2]]
    # WHEN the host runs them all
    jobs = pipeline.drop_all(dict(batch))
    outcomes = {name: outcome_of(pipeline, job) for name, job in jobs.items()}
    # THEN each good file succeeded with chunks and no issue, and each hostile file got its own outcome
    for name, _ in good:
        assert outcomes[name] == (JobState.SUCCEEDED, None, frozenset()), name
        assert jobs[name].totals.chunks > 0
    assert {c.blob_name: actual_for(c, outcomes[f"mixed/{c.blob_name}"]) for c in CASES} == {
        c.blob_name: expected_of(c) for c in CASES
    }
