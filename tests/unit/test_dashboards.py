"""The workbook in dashboards/ and the log alerts in infra/ query only names the code emits
(shared/telemetry/names.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.telemetry.names import Span, declared_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
# A log alert's KQL in Bicep: `query: '...'` on one line.
_BICEP_QUERY = re.compile(r"^\s*query: '(.*)'$", re.MULTILINE)
# A quoted name in one of our namespaces (what the code declares), and the stage spans' prefix.
_NAME = re.compile(r'"((?:tributary|messaging|gen_ai|db|error)\.[A-Za-z0-9_.]+)"')
_SPAN_PREFIX = re.compile(r'startswith "([^"]+) "')


def queries(workbook: dict) -> list[str]:
    return [item["content"]["query"] for item in workbook["items"] if item["type"] == 3]


def unknown_names(workbook: dict) -> set[str]:
    """Names the workbook's queries use that the telemetry module does not declare."""
    return unknown_in(queries(workbook))


def unknown_in(kql_queries: list[str]) -> set[str]:
    declared = declared_names()
    used: set[str] = set()
    for kql in kql_queries:
        used |= set(_NAME.findall(kql))
        used |= {f"{prefix}" for prefix in _SPAN_PREFIX.findall(kql)}
    return {name for name in used if name not in declared and name != Span.STAGE.value}


def _workbooks() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.workbook.json"))


def test_there_is_a_workbook_with_the_panels_the_issue_asks_for() -> None:
    (path,) = _workbooks()
    names = {item["name"] for item in json.loads(path.read_text())["items"]}
    assert {
        "files-per-minute",
        "megabytes-per-minute",
        "stage-latency",
        "queue-age",
        "failures-by-reason",
        "dead-letters",
        "file-drilldown",
    } <= names


@pytest.mark.parametrize("path", _workbooks(), ids=lambda path: path.name)
def test_every_name_a_workbook_queries_is_declared_by_the_code(path: Path) -> None:
    workbook = json.loads(path.read_text())
    assert queries(workbook), "a workbook with no query checks nothing"
    assert unknown_names(workbook) == set()


@pytest.mark.parametrize(
    ("declared", "broken"),
    [
        ("tributary.queue.age", "tributary.queue.agee"),
        ("tributary.reason_code", "tributary.reason"),
        ('startswith "process "', 'startswith "processing "'),
    ],
)
def test_a_name_broken_on_purpose_is_caught(declared: str, broken: str) -> None:
    # GIVEN the workbook with one name misspelt, as a rename in the code that the queries did not follow
    (path,) = _workbooks()
    text = path.read_text()
    assert declared.replace('"', '\\"') in text or declared in text
    mutated = json.loads(text.replace(declared.replace('"', '\\"'), broken.replace('"', '\\"')))
    # THEN the check names it
    assert unknown_names(mutated) == {broken.split('"')[1].strip() if '"' in broken else broken}


def bicep_queries(text: str) -> list[str]:
    return _BICEP_QUERY.findall(text)


def test_every_name_a_log_alert_queries_is_declared_by_the_code() -> None:
    kql = [query for path in sorted((ROOT / "infra").rglob("*.bicep")) for query in bicep_queries(path.read_text())]
    assert len(kql) >= 2, "the failure-rate and queue-age alerts query the app's metrics"
    assert unknown_in(kql) == set()


def test_a_log_alert_name_broken_on_purpose_is_caught() -> None:
    text = (ROOT / "infra" / "modules" / "alerts.bicep").read_text()
    assert unknown_in(bicep_queries(text.replace('"tributary.queue.age"', '"tributary.queue_age"'))) == {
        "tributary.queue_age"
    }
