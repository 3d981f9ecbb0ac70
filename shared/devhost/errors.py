"""Why the CLI or the local host cannot start, as one line a user can act on: the cause and the command that fixes it.

Raised where the failure is detected (a launcher, the HTTP server, the data directory lock); `tributary` turns it
into one line on stderr and an exit code: 2 for a bad setting (like a usage error), 3 for the machine's environment.
"""

from __future__ import annotations

from pydantic import ValidationError

from shared import config
from shared.domain import Reason, TributaryError

# Aliases of the registry's members (shared.domain.reasons), which the launchers and servers import by these names.
AZURITE_NOT_INSTALLED = Reason.DEVHOST_AZURITE_NOT_INSTALLED
NODE_NOT_INSTALLED = Reason.DEVHOST_NODE_NOT_INSTALLED
FALKORDB_NOT_INSTALLED = Reason.DEVHOST_FALKORDB_NOT_INSTALLED
PORT_IN_USE = Reason.DEVHOST_PORT_IN_USE
PORT_NOT_PERMITTED = Reason.DEVHOST_PORT_NOT_PERMITTED
DATA_DIR_IN_USE = Reason.DEVHOST_DATA_DIR_IN_USE
INVALID_SETTING = Reason.CONFIG_INVALID_SETTING
REASON_CODES = (
    AZURITE_NOT_INSTALLED,
    NODE_NOT_INSTALLED,
    FALKORDB_NOT_INSTALLED,
    PORT_IN_USE,
    PORT_NOT_PERMITTED,
    DATA_DIR_IN_USE,
    INVALID_SETTING,
)

EXIT_CONFIG = 2  # what click uses for a usage error: the command line or a setting is wrong
EXIT_ENVIRONMENT = 3  # the machine lacks something, or something else holds what the host needs


class StartupError(TributaryError):
    """The CLI or the local host cannot start: `message` says why, `fix` what to run or change."""

    def __init__(self, reason_code: str, message: str, fix: str) -> None:
        self.message = message
        self.fix = fix
        super().__init__(reason_code, f"{message}. Fix: {fix}")

    @property
    def exit_code(self) -> int:
        return EXIT_CONFIG if self.reason_code.startswith("config.") else EXIT_ENVIRONMENT

    def one_line(self) -> str:
        """What the CLI prints: reason code, cause and fix on a single line."""
        return " ".join(str(self).splitlines())


def invalid_settings(error: ValidationError) -> StartupError:
    """A `shared.config.Settings` that refused its values, naming each setting as the user sets it."""
    found = config.setting_problems(error)
    problems = [f"{name}={value!r}: {message}" for name, message, value in found]
    names = ", ".join(dict.fromkeys(name for name, _, _ in found))
    return StartupError(
        INVALID_SETTING,
        "invalid setting " + "; ".join(problems),
        f"set {names} to an allowed value, or unset it, in the environment or local.settings.json "
        "(local.settings.sample.json describes every setting)",
    )
