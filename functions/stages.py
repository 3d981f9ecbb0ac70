"""Service Bus triggers, one per stage: decode the envelope, run the stage, let the host settle.

Returning completes the message (autoCompleteMessages); raising abandons it, and the queue dead-letters it at its
maxDeliveryCount. shared.pipeline.delivery keeps the job store in step with that.
"""

import azure.functions as func

from shared.app_ports import app_ports
from shared.config import SERVICEBUS_CONNECTION
from shared.domain import Stage
from shared.pipeline.delivery import handle_message_body

bp = func.Blueprint()


def _run(message: func.ServiceBusMessage, stage: Stage) -> None:
    handle_message_body(message.get_body(), stage, message.delivery_count or 1, app_ports())


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="%TRIBUTARY_QUEUE_ENRICH%", connection=SERVICEBUS_CONNECTION
)
def enrich(message: func.ServiceBusMessage) -> None:
    _run(message, Stage.ENRICH)


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="%TRIBUTARY_QUEUE_EXTRACT%", connection=SERVICEBUS_CONNECTION
)
def extract(message: func.ServiceBusMessage) -> None:
    _run(message, Stage.EXTRACT)


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="%TRIBUTARY_QUEUE_GRAPH%", connection=SERVICEBUS_CONNECTION
)
def graph(message: func.ServiceBusMessage) -> None:
    _run(message, Stage.GRAPH)


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="%TRIBUTARY_QUEUE_VECTOR%", connection=SERVICEBUS_CONNECTION
)
def vector(message: func.ServiceBusMessage) -> None:
    _run(message, Stage.VECTOR)


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="%TRIBUTARY_QUEUE_CLEANUP%", connection=SERVICEBUS_CONNECTION
)
def cleanup(message: func.ServiceBusMessage) -> None:
    _run(message, Stage.CLEANUP)


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="%TRIBUTARY_QUEUE_DELETE%", connection=SERVICEBUS_CONNECTION
)
def delete(message: func.ServiceBusMessage) -> None:
    _run(message, Stage.DELETE)
