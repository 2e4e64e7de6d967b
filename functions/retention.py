"""Timer trigger: applies retention, purges expired soft-deletes and collects garbage in every vault."""

from __future__ import annotations

import azure.functions as func

from shared.runtime import get_runtime
from shared.services.maintenance import run_maintenance

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%RETENTION_SCHEDULE%", run_on_startup=False)
def retention(timer: func.TimerRequest) -> None:
    run_maintenance(get_runtime())
