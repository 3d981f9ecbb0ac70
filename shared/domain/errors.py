"""The two failure kinds every stage raises; the reason code is what users search for."""


class TributaryError(Exception):
    """Base for the project's own errors: always carries a searchable reason code."""

    def __init__(self, reason_code: str, detail: str = "") -> None:
        self.reason_code = reason_code
        self.detail = detail
        super().__init__(f"{reason_code}: {detail}" if detail else reason_code)


class PermanentError(TributaryError):
    """Retrying cannot help (bad input, refused content): dead-letter now and fail the job with the reason."""


class TransientError(TributaryError):
    """Retrying may help (a service throttled or unreachable): redeliver, dead-letter after the delivery cap."""


class ConfigError(TributaryError):
    """The settings cannot work here (a setting unset, a local-only backend on Azure): fix the settings, then
    restart. Reason codes start with `config.`; `fix` says which setting to set."""

    def __init__(self, reason_code: str, cause: str, fix: str) -> None:
        self.cause = cause
        self.fix = fix
        super().__init__(reason_code, f"{cause}: {fix}")
