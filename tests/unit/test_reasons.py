"""Reason codes are an API: one registry, one form, a description each, and no code used that it does not list."""

import ast
import json
import re
from pathlib import Path

import pytest

from shared.domain import DESCRIPTIONS, Reason
from shared.domain.reasons import markdown_table

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("shared", "functions")
CODE_FORM = re.compile(r"^[a-z]+(\.[a-z0-9]+(_[a-z0-9]+)*)+$")
AREAS = frozenset(reason.split(".", 1)[0] for reason in Reason)
# Dotted strings that are not codes: file names (`devhost.sqlite`, `host.json`). Module paths (`shared.parsing.xml`)
# and field paths (`address.city`) start outside the registry's areas, so the area filter leaves them out.
FILE_SUFFIXES = frozenset({"db", "json", "lock", "log", "md", "py", "sqlite", "toml", "txt", "yaml", "yml"})


# Where a literal is a reason code whatever its area: the first argument of an `...Error(...)`, a `reason_code=`
# keyword, or a reason keyword of a server kind. So a code of a new area is seen there too.
REASON_KEYWORDS = frozenset({"reason_code", "already_running", "start_failed", "stop_failed", "unresponsive"})
# First segments of dotted names that are never codes: our packages, the codec and context keys named after the
# project, host names (`core.windows.net`).
NOT_AREAS = frozenset({"shared", "tests", "functions", "tributary", "core"})


def _in_reason_position(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    if isinstance(parent, ast.Call) and parent.args and parent.args[0] is node:
        callee = parent.func
        name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        return name.endswith("Error")
    if isinstance(parent, ast.keyword):
        return parent.arg in REASON_KEYWORDS
    return False


def reason_shaped_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant in `source` shaped like a reason code: of a known area, or of any area
    where a reason code stands."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE_FORM.match(node.value)):
            continue
        area, *_, last = node.value.split(".")
        if last in FILE_SUFFIXES or area in NOT_AREAS:
            continue
        if area in AREAS or _in_reason_position(node, parents):
            found.append((node.lineno, node.value))
    return sorted(found)


def unregistered_codes(source: str) -> list[tuple[int, str]]:
    return [(line, text) for line, text in reason_shaped_literals(source) if text not in set(Reason)]


def python_files() -> list[Path]:
    return sorted(path for folder in SCANNED for path in (ROOT / folder).rglob("*.py"))


def test_every_code_has_the_form_area_dot_snake_case():
    for reason in Reason:
        assert CODE_FORM.fullmatch(reason), reason


def test_every_member_name_is_its_code_upper_cased():
    for reason in Reason:
        assert reason.name == reason.value.upper().replace(".", "_"), reason


def test_codes_are_unique_and_each_has_a_one_line_description():
    assert len({reason.value for reason in Reason}) == len(Reason)
    assert set(DESCRIPTIONS) == set(Reason)
    for reason, text in DESCRIPTIONS.items():
        assert text.strip(), reason
        assert "\n" not in text, reason
        assert reason.description == text


def test_a_reason_is_its_code_as_a_string_in_json_and_comparisons():
    # GIVEN a member WHEN it is compared, formatted or serialised THEN only the code shows
    reason = Reason.PARSE_XML_MALFORMED
    assert reason == "parse.xml.malformed"
    assert f"{reason}" == str(reason) == "parse.xml.malformed"
    assert json.dumps({"error": reason}) == '{"error": "parse.xml.malformed"}'
    assert Reason("parse.xml.malformed") is reason


def test_a_reason_binds_to_postgres_as_its_code_not_its_member_name():
    # psycopg dumps a plain Enum by its *name*; a str enum must bind as the string it is.
    psycopg_adapt = pytest.importorskip("psycopg.adapt")
    dumper = psycopg_adapt.Transformer().get_dumper(Reason.LIMITS_FILE_TOO_LARGE, psycopg_adapt.PyFormat.AUTO)
    assert bytes(dumper.dump(Reason.LIMITS_FILE_TOO_LARGE)) == b"limits.file_too_large"


def test_the_scanner_finds_a_planted_unknown_code_and_ignores_what_is_not_a_code():
    # GIVEN a module with one unregistered code among registered codes and dotted strings that are not codes
    source = '''
"""parse.xml.malformed in a docstring is text, and so is this: limits.made_up."""
import shared.parsing.xml
MODULE = "shared.parsing.xml"
STATE = "devhost.sqlite"
CONFIG = "host.json"
FIELD = "address.city"
KNOWN = "parse.xml.malformed"
def f(x):
    raise PermanentError("parse.xml.made_up_fault", f"parse.{x}.dynamic")
def g():
    raise TransientError("otherarea.made_up", "detail")
    kind = ServerKind(start_failed="thirdarea.start_failed")
    note = "notacode.just_text"
'''
    # WHEN it is scanned THEN only the planted codes are reported, at their lines, a new area's too
    assert unregistered_codes(source) == [
        (10, "parse.xml.made_up_fault"),
        (12, "otherarea.made_up"),
        (13, "thirdarea.start_failed"),
    ]


def test_no_code_is_used_in_the_app_that_the_registry_does_not_list():
    unknown = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in python_files()
        for line, text in unregistered_codes(path.read_text(encoding="utf-8"))
    ]
    assert not unknown, "register these in shared/domain/reasons.py (or use the registered code):\n" + "\n".join(
        unknown
    )


def test_every_registered_code_is_used_in_the_app():
    used: set[str] = set()
    for path in python_files():
        if path == ROOT / "shared" / "domain" / "reasons.py":
            continue  # the registry itself
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Reason":
                used.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in set(Reason):
                used.add(Reason(node.value).name)
    unused = {reason.name for reason in Reason} - used
    assert not unused, f"registered but never raised, remove them: {sorted(unused)}"


def test_the_readme_holds_the_table_the_registry_prints():
    assert markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8"), "run `python -m shared.domain.reasons`"
