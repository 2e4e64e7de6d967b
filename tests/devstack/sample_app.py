"""A small FunctionApp whose functions record each invocation, for the local host's own tests."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _record(function_name: str, **fields: object) -> None:
    """Append one JSON line to $SAMPLE_RECORD_DIR/<function_name>.jsonl."""
    folder = Path(os.environ["SAMPLE_RECORD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{function_name}.jsonl").open("a") as records:
        records.write(json.dumps(fields) + "\n")


@app.route(route="items/{item_id}/{part?}", methods=["GET", "POST"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    echoed = {
        "method": req.method,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "body": req.get_body().decode(),
        "header": req.headers.get("x-sample"),
    }
    return func.HttpResponse(json.dumps(echoed), status_code=201 if req.method == "POST" else 200,
                             mimetype="application/json", headers={"X-Handled-By": "item"})


@app.route(route="items/special", methods=["GET"])
def special_item(req: func.HttpRequest) -> str:
    return "special"


@app.route(route="broken")
def broken(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("sample failure with a secret detail")


@app.route(route="nothing", methods=["DELETE"])
def nothing(req: func.HttpRequest) -> None:
    return None


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE%", connection="PRIMARY_STORAGE")
def record_message(msg: func.QueueMessage) -> None:
    _record("record_message", id=msg.id, body=msg.get_body().decode(), dequeue_count=msg.dequeue_count)


@app.queue_trigger(arg_name="msg", queue_name="sample-fails", connection="PRIMARY_STORAGE")
def always_fails(msg: func.QueueMessage) -> None:
    _record("always_fails", id=msg.id, body=msg.get_body().decode(), dequeue_count=msg.dequeue_count, at=time.time())
    raise ValueError("sample handler always fails")


@app.queue_trigger(arg_name="msg", queue_name="sample-forward", connection="PRIMARY_STORAGE")
@app.queue_output(arg_name="out", queue_name="sample-forwarded", connection="PRIMARY_STORAGE")
def forward(msg: func.QueueMessage, out: func.Out[str]) -> None:
    out.set(msg.get_body().decode().upper())


@app.timer_trigger(schedule="%SAMPLE_TICK_SCHEDULE%", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    _record("tick", at=time.time(), past_due=timer.past_due)


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")
def slow_tick(timer: func.TimerRequest) -> None:
    started = time.time()
    time.sleep(1.5)
    _record("slow_tick", started=started, ended=time.time())


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")
def yearly(timer: func.TimerRequest) -> None:
    _record("yearly", at=time.time(), past_due=timer.past_due)
