"""What /api/health reports: the app's version and the settings it runs with (never secrets)."""

from importlib.metadata import PackageNotFoundError, version

from shared.config import Settings


def health_report(settings: Settings | None = None) -> dict[str, str]:
    settings = settings or Settings()
    try:
        app_version = version("tributary")
    except PackageNotFoundError:  # deployed as a folder (Azure zip deploy), not as an installed package
        app_version = "unknown"
    return {"status": "ok", "version": app_version, "job_store": settings.job_store}
