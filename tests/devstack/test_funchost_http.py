"""The local host serves HTTP triggers on their routes and methods, as the Functions host does."""

from __future__ import annotations

import json

import pytest
import urllib3

pytestmark = pytest.mark.timeout(60)

http = urllib3.PoolManager(retries=False)


@pytest.fixture
def api(sample_stack) -> str:
    return sample_stack.env()["BACKUP_API_URL"]


def test_route_parameters_query_body_and_headers_reach_the_function(api):
    response = http.request("POST", f"{api}/items/42/cover?size=large&size=small", body=b"payload",
                            headers={"X-Sample": "yes"})
    assert response.status == 201
    assert response.headers["X-Handled-By"] == "item"
    assert response.headers["Content-Type"] == "application/json"
    echoed = json.loads(response.data)
    assert echoed == {"method": "POST", "route_params": {"item_id": "42", "part": "cover"},
                      "params": {"size": "large"}, "body": "payload", "header": "yes"}


def test_an_optional_route_parameter_may_be_left_out(api):
    response = http.request("GET", f"{api}/items/7")
    assert response.status == 200
    assert json.loads(response.data)["route_params"] == {"item_id": "7"}


def test_a_literal_segment_wins_over_a_parameter_and_a_str_return_is_the_body(api):
    response = http.request("GET", f"{api}/items/special")
    assert (response.status, response.data) == (200, b"special")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_a_method_the_route_does_not_allow_is_not_found(api):
    assert http.request("DELETE", f"{api}/items/42").status == 404


def test_an_unknown_route_or_a_path_outside_the_prefix_is_not_found(api):
    assert http.request("GET", f"{api}/no-such-route").status == 404
    assert http.request("GET", api.removesuffix("/api") + "/items/42").status == 404


def test_a_function_returning_none_answers_no_content(api):
    assert http.request("DELETE", f"{api}/nothing").status == 204


def test_an_exception_is_a_generic_500_and_its_traceback_is_logged(api, sample_stack):
    response = http.request("GET", f"{api}/broken")
    assert response.status == 500
    assert b"secret detail" not in response.data
    log = sample_stack.process("functions").log_file.read_text()
    assert "Traceback" in log and "sample failure with a secret detail" in log


def test_host_status_lists_the_functions(admin):
    status = admin("GET", "/host/status").json()
    assert status["state"] == "Running"
    assert status["errors"] == []
    assert {"item", "record_message", "always_fails", "tick", "yearly"} <= set(status["functions"])
