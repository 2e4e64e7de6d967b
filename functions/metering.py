"""Queue trigger: records each usage event exactly once in the vault's daily usage documents."""

from __future__ import annotations

import azure.functions as func

from shared.domain.messages import UsageEvent, decode
from shared.runtime import get_runtime
from shared.services.metering import record_usage

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="%METERING_QUEUE%", connection="PRIMARY_STORAGE")
def metering(msg: func.QueueMessage) -> None:
    record_usage(get_runtime(), decode(UsageEvent, msg.get_body()))
