"""The ingestion config: first matching glob wins, defaults otherwise, and an invalid config fails at load."""

from pathlib import Path

import pytest

from shared.domain import PermanentError
from shared.ingestion_config import PACKAGED_CONFIG, IngestionConfig, load_ingestion_config
from shared.parsing import ParseOptions

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ingestion.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def invalid(path: Path) -> str:
    with pytest.raises(PermanentError) as raised:
        load_ingestion_config(path)
    assert raised.value.reason_code == "config.ingestion_invalid"
    return raised.value.detail


def test_the_packaged_config_loads_and_covers_the_sample_tables():
    config = load_ingestion_config()
    name, options = config.options_for("incoming", "samples/staff.csv")
    assert name == "staff"
    assert options.entity_columns == {"name": "Person", "company": "Organization", "manager": "Person", "city": "Place"}
    assert {(r.source, r.type, r.target) for r in options.relations} >= {
        ("name", "WORKS_FOR", "company"),
        ("name", "REPORTS_TO", "manager"),
    }
    tables = {p.name for p in SAMPLES.glob("*.csv")}
    assert {config.options_for("incoming", f"samples/{t}")[0] for t in tables} == {"staff", "projects", "partnerships"}


def test_a_file_no_rule_matches_gets_the_defaults():
    assert load_ingestion_config().options_for("incoming", "elsewhere/staff.txt") == (None, ParseOptions())


def test_the_first_matching_rule_wins_and_star_crosses_slashes(tmp_path: Path):
    config = load_ingestion_config(
        write(
            tmp_path,
            """
rules:
  - name: hr
    match: ["incoming/hr/*.csv"]
    options: {delimiter: ";"}
  - name: any-csv
    match: ["*.csv"]
    options: {delimiter: "|"}
""",
        )
    )
    assert config.options_for("incoming", "hr/deep/er/staff.csv")[0] == "hr"  # '*' crossed two '/'
    assert config.options_for("incoming", "other/x.csv")[0] == "any-csv"
    assert config.options_for("incoming", "other/x.CSV")[0] is None  # case-sensitive
    assert config.options_for("archive", "hr/x.csv")[0] == "any-csv"  # the container is part of what is matched


def test_an_empty_file_means_no_rules(tmp_path: Path):
    assert load_ingestion_config(write(tmp_path, "")) == IngestionConfig()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [{name: a, match: ['*'], options: {entity_columns: {x: Team}}}]", "unknown entity type 'Team'"),
        (
            "rules: [{name: a, match: ['*'], options: {entity_columns: {m: Person, c: Place},"
            " relations: [{source: m, type: WORKS_FOR, target: c}]}}]",
            "does not allow Person -[WORKS_FOR]-> Place",
        ),
        ("rules: [{name: a, match: []}]", "rules.0.match"),
        ("rules: [{name: a, match: ['*'], options: {delimeter: ';'}}]", "delimeter"),
        ("rules: [{name: a, match: ['*'], options: {format: docx}}]", "unknown format 'docx'"),
        ("rules: [{name: a, match: ['*']}, {name: a, match: ['*']}]", "rule names must be unique"),
        ("rules: [{name: a, match: ['  ']}]", "a glob must not be blank"),
        ("- just a list", "must be a mapping"),
        ("rules: [unclosed", "ingestion.yaml"),
    ],
)
def test_an_invalid_config_fails_at_load_with_the_reason(tmp_path: Path, text: str, expected: str):
    assert expected in invalid(write(tmp_path, text))


def test_a_missing_file_is_invalid(tmp_path: Path):
    assert "missing.yaml" in invalid(tmp_path / "missing.yaml")


def test_the_packaged_config_is_documented():
    text = PACKAGED_CONFIG.read_text(encoding="utf-8")
    for word in ("fnmatch", "first rule", "entity_columns", "relations", "text_columns", "id_column"):
        assert word in text
