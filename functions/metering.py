"""Queue trigger: records each usage event exactly once in the vault's daily usage documents."""

from __future__ import annotations

import azure.functions as func

from shared.domain.messages import UsageEvent, decode
from shared.runtime import get_runtime
from shared.services.metering import record_usage
from shared.services.poison import failures_recorded

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="%METERING_QUEUE%", connection="PRIMARY_STORAGE")
def metering(msg: func.QueueMessage) -> None:
    rt = get_runtime()
    with failures_recorded(rt, rt.settings.metering_queue, msg.get_body(), msg.dequeue_count):
        record_usage(rt, decode(UsageEvent, msg.get_body()))
