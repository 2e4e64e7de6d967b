"""Unit tests of the local host's parsing: route templates, host.json timespans, NCRONTAB schedules."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from devstack.funchost.app_loader import FunctionSpec
from devstack.funchost.app_settings import AppSettingError, resolve_references
from devstack.funchost.host_config import HostConfigError, parse_host_config, parse_timespan
from devstack.funchost.ncrontab import Schedule, ScheduleError
from devstack.funchost.queue_clients import MessageDecodeError, decode_body, encode_body
from devstack.funchost.routing import RouteTable
from devstack.ports import plan_ports


def _http(name: str, route: str, methods: list[str] | None = None) -> FunctionSpec:
    trigger = {"type": "httpTrigger", "name": "req", "route": route, "methods": methods}
    return FunctionSpec(name, trigger, (), lambda req: None)


def test_routes_match_by_precedence_method_and_parameters():
    table = RouteTable([
        _http("by_id", "vaults/{vault}/{item?}", ["GET"]),
        _http("policy", "vaults/{vault}/policy", ["GET", "PUT"]),
        _http("numbered", "pages/{n:int}"),
        _http("files", "files/{*path}"),
        _http("default_route", None),
    ], "api")
    assert table.match("GET", "/api/vaults/v1/policy")[0].name == "policy"
    assert table.match("GET", "/api/vaults/v%201/other")[1] == {"vault": "v 1", "item": "other"}
    assert table.match("GET", "/api/vaults/v1")[1] == {"vault": "v1"}
    assert table.match("DELETE", "/api/vaults/v1") is None
    assert table.match("GET", "/api/pages/12")[1] == {"n": "12"}
    assert table.match("GET", "/api/pages/twelve") is None
    assert table.match("GET", "/api/files/a/b/c.txt")[1] == {"path": "a/b/c.txt"}
    assert table.match("GET", "/api/default_route")[0].name == "default_route"
    assert table.match("GET", "/vaults/v1") is None


def test_an_empty_route_prefix_serves_from_the_root():
    table = RouteTable([_http("health", "health")], "")
    assert table.match("GET", "/health")[0].name == "health"


@pytest.mark.parametrize(("text", "seconds"), [("00:00:10", 10), ("00:00:00.5", 0.5), ("1.02:03:04", 93784)])
def test_timespans(text, seconds):
    assert parse_timespan(text) == seconds


def test_host_json_defaults_and_values():
    config = parse_host_config({"functionTimeout": "00:10:00", "extensions": {"queues": {"batchSize": 4}}})
    assert config.function_timeout == 600 and config.route_prefix == "api"
    assert (config.queues.batch_size, config.queues.new_batch_threshold, config.queues.max_dequeue_count) == (4, 2, 5)
    with pytest.raises(HostConfigError):
        parse_host_config({"extensions": {"queues": {"visibilityTimeout": "ten seconds"}}})


def test_ncrontab_puts_seconds_first():
    moment = datetime(2026, 1, 1, 2, 29, 59, tzinfo=timezone.utc)
    assert Schedule("0 30 2 * * *").next_after(moment) == datetime(2026, 1, 1, 2, 30, tzinfo=timezone.utc)
    assert Schedule("*/5 * * * * *").next_after(moment) == datetime(2026, 1, 1, 2, 30, 0, tzinfo=timezone.utc)
    assert Schedule("00:00:30").next_after(moment) == datetime(2026, 1, 1, 2, 30, 29, tzinfo=timezone.utc)
    with pytest.raises(ScheduleError):
        Schedule("every day")


def test_setting_references_resolve_or_name_the_missing_setting():
    assert resolve_references("%QUEUE%-x", {"QUEUE": "commits"}) == "commits-x"
    with pytest.raises(AppSettingError, match="MISSING"):
        resolve_references("%MISSING%", {})


def test_message_bodies_are_base64_on_the_wire():
    assert encode_body("hi", "base64") == "aGk="
    assert decode_body("aGk=", "base64") == b"hi"
    with pytest.raises(MessageDecodeError):
        decode_body("not base64!", "base64")
    assert decode_body("plain", "none") == b"plain"


def test_a_taken_default_port_is_replaced_by_a_free_one():
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        plan = plan_ports({}, {}, {"functions": taken}, environ={})
    assert plan["functions"] != taken
    assert len(set(plan.values())) == len(plan)
