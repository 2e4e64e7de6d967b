"""Wires an app's functions to their triggers: the route table, queue listeners and timer schedulers."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from devstack.funchost.app_loader import FunctionSpec
from devstack.funchost.app_settings import AppSettingError
from devstack.funchost.host_config import HostConfig
from devstack.funchost.invoker import Invoker
from devstack.funchost.ncrontab import ScheduleError
from devstack.funchost.queue_listener import QueueListener
from devstack.funchost.routing import RouteTable
from devstack.funchost.timer_scheduler import TimerScheduler

log = logging.getLogger("funchost")


class UnknownFunctionError(Exception):
    """The admin API named a function the app does not have."""


class NotInvocableError(Exception):
    """The admin API cannot invoke HTTP-triggered functions; call their route instead."""


class FunctionHost:
    """The running app: which function serves each trigger, and the host's state."""

    def __init__(self, specs: list[FunctionSpec], problems: list[str], config: HostConfig,
                 environ: Mapping[str, str] = os.environ) -> None:
        self.config = config
        self.invoker = Invoker(config.queues.message_encoding, environ)
        self.routes = RouteTable(specs, config.route_prefix)
        self.functions = {spec.name: spec for spec in specs}
        self.problems = list(problems)
        self.listeners: dict[str, QueueListener] = {}
        self.timers: dict[str, TimerScheduler] = {}
        for spec in specs:
            try:
                if spec.trigger_type == "queueTrigger":
                    self.listeners[spec.name] = QueueListener(spec, config, self.invoker, environ)
                elif spec.trigger_type == "timerTrigger":
                    self.timers[spec.name] = TimerScheduler(spec, self.invoker, environ)
            except (AppSettingError, ScheduleError) as exc:
                # Like the Functions host: the function is in error, the others still run.
                self.problems.append(f"function {spec.name} is in error: {exc}")
                del self.functions[spec.name]
        for problem in self.problems:
            log.error("%s", problem)
        self.state = "Initialized"

    def start(self) -> None:
        for listener in self.listeners.values():
            listener.start()
            log.info("function %s listens on queue %s", listener.spec.name, listener.queue_name)
        for timer in self.timers.values():
            timer.start()
            log.info("function %s runs on schedule %s", timer.spec.name, timer.schedule.expression)
        for route in self.routes.routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "ANY"
            log.info("function %s serves %s /%s/%s", route.function.name, methods,
                     self.config.route_prefix, route.template)
        self.state = "Running"

    def stop(self) -> None:
        """Stop triggering; waits for the invocations in progress."""
        self.state = "Stopping"
        triggers = [*self.listeners.values(), *self.timers.values()]
        for trigger in triggers:
            trigger.request_stop()
        for trigger in triggers:
            trigger.wait_stopped()
        self.state = "Stopped"

    def invoke_on_demand(self, name: str, input_text: str) -> None:
        """Run a queue or timer function now, as POST /admin/functions/{name} does; raises its error."""
        spec = next((s for n, s in self.functions.items() if n.lower() == name.lower()), None)
        if spec is None:
            raise UnknownFunctionError(name)
        if spec.name in self.timers:
            self.timers[spec.name].fire()
        elif spec.name in self.listeners:
            self.listeners[spec.name].run_with_body(input_text.encode("utf-8"))
        else:
            raise NotInvocableError(f"{spec.name} is HTTP-triggered; call its route")

    def status(self) -> dict[str, object]:
        return {"state": self.state, "functions": sorted(self.functions), "errors": self.problems}

