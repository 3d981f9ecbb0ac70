"""The hostile corpus (tests/fixtures/hostile/<kind>/): every crafted file through the whole pipeline, each with its
exact outcome from the EXPECTED.yaml of its folder, and a mixed batch in which the good files still succeed.

EXPECTED.yaml maps a file name to `{fails: <reason code>}` or `{succeeds: true, issues: [<reason code>, …]}`
(issues: the exact set of reason codes recorded on the job; empty or absent for none).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from shared.devhost.servers.falkordb import FalkorDBServer
from shared.domain import IngestOutcome, JobState
from tests.support.hostile import EXPECTED_FILE, HOSTILE
from tests.support.pipeline import Pipeline, PipelineFactory, open_pipeline

pytestmark = pytest.mark.falkordb

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


@pytest.fixture(scope="module")
def shared_pipeline(tmp_path_factory: pytest.TempPathFactory, falkordb_server: FalkorDBServer) -> Iterator[Pipeline]:
    """One pipeline for the whole module: files go in under distinct names, so they never meet."""
    pipeline = open_pipeline(tmp_path_factory.mktemp("hostile"), falkordb_server.url)
    yield pipeline
    pipeline.close()


def outcome_of(pipeline: Pipeline, outcome: IngestOutcome) -> tuple[JobState, str | None, frozenset[str]]:
    """(state, reason code, set of issue reason codes) of the job an ingest made."""
    job = pipeline.job(outcome)
    issues = pipeline.ports.jobs.list_issues(job.job_id, limit=10_000)
    assert job.issues == len(issues), "the job's counter matches the issues stored"
    return job.state, job.reason_code, frozenset(issue.reason_code for issue in issues)


def expected_of(case: Case) -> tuple[JobState, str | None, frozenset[str]] | tuple[JobState, str]:
    return (JobState.SUCCEEDED, None, case.issues) if case.fails is None else (JobState.FAILED, case.fails)


def actual_for(case: Case, found: tuple[JobState, str | None, frozenset[str]]) -> tuple:
    # A failed file's issues found before it failed are not part of its promise: only the reason code is.
    return found if case.fails is None else found[:2]


def test_the_corpus_is_complete_and_every_file_is_listed():
    assert CORPUS_PROBLEMS == []
    assert len(CASES) >= MINIMUM_CORPUS, f"only {len(CASES)} hostile files; the corpus needs {MINIMUM_CORPUS}"
    kinds = {case.path.parent for case in CASES}
    assert len(kinds) >= 2


@pytest.mark.parametrize("case", CASES, ids=[case.blob_name.removeprefix("hostile/") for case in CASES])
def test_each_hostile_file_gets_exactly_its_expected_outcome(shared_pipeline: Pipeline, case: Case):
    # GIVEN one crafted file WHEN it is dropped through the whole pipeline
    found = outcome_of(shared_pipeline, shared_pipeline.drop(case.blob_name, case.content))
    # THEN it failed with exactly its reason code, or succeeded with exactly its set of issue codes
    assert actual_for(case, found) == expected_of(case)


def test_a_mixed_batch_keeps_every_outcome_and_every_good_file(make_pipeline: PipelineFactory):
    # GIVEN every hostile file and three good ones, dropped in one run, good files first, in the middle and last
    pipeline = make_pipeline()
    middle = len(CASES) // 2
    good = list(GOOD_FILES.items())
    batch = [good[0], *((c.blob_name, c.content) for c in CASES[:middle]), good[1]]
    batch += [*((c.blob_name, c.content) for c in CASES[middle:]), good[2]]
    # WHEN they are all ingested
    outcomes = {name: outcome_of(pipeline, pipeline.drop(name, content)) for name, content in batch}
    # THEN each good file succeeded with chunks and no issue, and each hostile file got its own outcome
    for name in GOOD_FILES:
        assert outcomes[name] == (JobState.SUCCEEDED, None, frozenset()), name
    jobs = {job.path.removeprefix("incoming/"): job for job in pipeline.ports.jobs.list_jobs(limit=10_000)}
    assert all(jobs[name].totals.chunks > 0 for name in GOOD_FILES)
    assert {c.blob_name: actual_for(c, outcomes[c.blob_name]) for c in CASES} == {
        c.blob_name: expected_of(c) for c in CASES
    }
