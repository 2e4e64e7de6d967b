"""Queue trigger: copies (or deletes) a vault's blobs in the paired region."""

from __future__ import annotations

import azure.functions as func

from shared.domain.messages import ReplicationMessage, decode
from shared.runtime import get_runtime
from shared.services.poison import failures_recorded
from shared.services.replication import replicate

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="%REPLICATION_QUEUE%", connection="PRIMARY_STORAGE")
def replication(msg: func.QueueMessage) -> None:
    rt = get_runtime()
    with failures_recorded(rt, rt.settings.replication_queue, msg.get_body(), msg.dequeue_count):
        replicate(rt, decode(ReplicationMessage, msg.get_body()))
