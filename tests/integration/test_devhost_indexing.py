"""The local host refuses what Azure refuses: an unset %SETTING% leaves its function out, the others run."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shared.config import Settings
from shared.devhost.broker import LocalBroker
from shared.devhost.broker_bus import broker_path
from shared.devhost.broker_models import OutgoingMessage
from shared.devhost.host import DevHost

pytestmark = pytest.mark.timeout(120)

APP = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "settings_app" / "settings_function_app.py"


def test_a_trigger_naming_an_unset_setting_is_not_indexed_and_the_others_run(
    host_settings: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an app with one trigger on a set queue setting and one on a setting nobody set
    settings = host_settings | {"SETTINGS_APP_QUEUE": "settings-app-orders"}
    create_queue(settings, "settings-app-orders")
    caplog.set_level(logging.WARNING, logger="shared.devhost.host")

    with DevHost(APP, settings=settings) as host:
        module = __import__(APP.stem)
        module.received.clear()
        # WHEN the host starts and a message arrives for the configured function
        host.broker.send("settings-app-orders", [OutgoingMessage(body=b"order 1", message_id="m1")])
        host.run_until_idle(timeout=60)

        # THEN the refused function is named with the Functions host's message, logged as a warning
        expected = (
            "The 'unconfigured' function is in error: Microsoft.Azure.WebJobs.Host: Error indexing method "
            "'Functions.unconfigured'. Microsoft.Azure.WebJobs.Host: '%SETTINGS_APP_UNSET_QUEUE%' does not resolve "
            "to a value."
        )
        assert host.errors == {"unconfigured": expected}
        assert [(record.levelname, record.getMessage()) for record in caplog.records] == [("WARNING", expected)]
        # AND the configured function ran
        assert module.received == [b"order 1"]
        assert [spec.name for spec in host.indexed.functions] == ["configured", "ping"]


def create_queue(settings: dict[str, str], queue: str) -> None:
    """Create a queue in the host's broker file before the host starts, as a deployment creates it before the app."""
    with LocalBroker(broker_path(Settings(data_dir=Path(settings["TRIBUTARY_DATA_DIR"])))) as broker:
        broker.create_queue(queue)


def test_a_listener_on_a_queue_never_created_does_not_start(host_settings: dict[str, str]) -> None:
    # GIVEN the configured function's queue setting names a queue nobody created
    settings = host_settings | {"SETTINGS_APP_QUEUE": "settings-app-missing"}
    with DevHost(APP, settings=settings) as host:
        # THEN the host says its listener could not start (as Service Bus answers MessagingEntityNotFound), and idles
        assert "The listener for function 'Functions.configured' was unable to start." in host.errors["configured"]
        assert "bus.entity_not_found" in host.errors["configured"]
        host.run_until_idle(timeout=10)
