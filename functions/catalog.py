"""Queue trigger: catalogs each commit message into a recovery point."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.domain.messages import CommitMessage, decode
from shared.runtime import get_runtime
from shared.services.catalog import catalog_commit
from shared.services.poison import failures_recorded

bp = func.Blueprint()
log = logging.getLogger("functions.catalog")


@bp.queue_trigger(arg_name="msg", queue_name="%COMMIT_QUEUE%", connection="PRIMARY_STORAGE")
def catalog(msg: func.QueueMessage) -> None:
    rt = get_runtime()
    with failures_recorded(rt, rt.settings.commit_queue, msg.get_body(), msg.dequeue_count):
        message = decode(CommitMessage, msg.get_body())
        state = catalog_commit(rt, message)
    log.info("recovery point %s of vault %s is %s", message.recovery_point_id, message.vault_id, state)
