"""Start-up failures: reason codes of one form, and a refused setting named as the user sets it."""

import re

import pytest
from pydantic import ValidationError

from shared.config import Settings
from shared.devhost import errors
from shared.devhost.errors import EXIT_CONFIG, EXIT_ENVIRONMENT, StartupError, invalid_settings


def test_every_reason_code_is_area_dot_snake_case_and_unique():
    assert len(set(errors.REASON_CODES)) == len(errors.REASON_CODES)
    for code in errors.REASON_CODES:
        assert re.fullmatch(r"(config|devhost)\.[a-z][a-z0-9_]*", code), code
    declared = {value for name, value in vars(errors).items() if name.isupper() and isinstance(value, str)}
    assert declared == set(errors.REASON_CODES), "every code constant is listed in REASON_CODES"


def test_the_exit_code_tells_a_bad_setting_from_the_environment():
    assert StartupError(errors.INVALID_SETTING, "m", "f").exit_code == EXIT_CONFIG == 2
    assert StartupError(errors.PORT_IN_USE, "m", "f").exit_code == EXIT_ENVIRONMENT == 3


def test_one_line_holds_the_code_the_cause_and_the_fix_even_when_they_span_lines():
    error = StartupError(errors.NODE_NOT_INSTALLED, "no node\non PATH", "install it")
    assert error.one_line() == "devhost.node_not_installed: no node on PATH. Fix: install it"


def test_a_refused_setting_is_named_as_its_environment_variable(monkeypatch: pytest.MonkeyPatch):
    # GIVEN a job store the settings do not know
    monkeypatch.setenv("TRIBUTARY_JOB_STORE", "oracle")
    with pytest.raises(ValidationError) as refused:
        Settings()
    # WHEN it is turned into a start-up error THEN it names the variable, the value and the fix
    error = invalid_settings(refused.value)
    assert error.reason_code == "config.invalid_setting"
    assert "TRIBUTARY_JOB_STORE='oracle'" in error.message
    assert "'sqlite', 'postgres' or 'cosmos'" in error.message
    assert error.fix.startswith("set TRIBUTARY_JOB_STORE to an allowed value")
