"""The local host's admin API answers only a caller that sends the master key, as the Functions host does."""

from __future__ import annotations

import pytest
import urllib3

pytestmark = pytest.mark.timeout(60)


def test_the_admin_api_refuses_a_request_without_the_master_key(sample_stack, records):
    admin_url = sample_stack.env()["FUNCTIONS_ADMIN_URL"]
    before = len(records.of("yearly"))
    assert urllib3.request("GET", f"{admin_url}/host/status").status == 401
    assert urllib3.request("POST", f"{admin_url}/functions/yearly", json={"input": ""}).status == 401
    assert urllib3.request("POST", f"{admin_url}/functions/no_such_function", json={}).status == 401
    assert len(records.of("yearly")) == before  # refused before the function ran


@pytest.mark.parametrize("offered", ["wrong", "", "bko_ü", "x" * 10_000], ids=["wrong", "empty", "non-ascii", "long"])
def test_a_wrong_master_key_is_refused_in_the_header_and_in_the_code_parameter(sample_stack, offered):
    admin_url = sample_stack.env()["FUNCTIONS_ADMIN_URL"]
    in_header = urllib3.request("GET", f"{admin_url}/host/status", headers={"x-functions-key": offered})
    in_query = urllib3.request("GET", f"{admin_url}/host/status", fields={"code": offered})
    assert (in_header.status, in_query.status) == (401, 401)


def test_the_master_key_opens_the_admin_api_in_the_header_or_the_code_parameter(sample_stack, admin):
    env = sample_stack.env()
    assert admin("GET", "/host/status").json()["state"] == "Running"
    assert admin("GET", "/host/status", headers={"X-Functions-Key": env["FUNCTIONS_MASTER_KEY"]}).status == 200
    by_code = urllib3.request("GET", f"{env['FUNCTIONS_ADMIN_URL']}/host/status",
                              fields={"code": env["FUNCTIONS_MASTER_KEY"]})
    assert by_code.status == 200


def test_the_master_key_is_random_kept_across_restarts_and_not_an_app_setting(sample_stack, admin):
    key = sample_stack.env()["FUNCTIONS_MASTER_KEY"]
    assert len(key) >= 43 and key != sample_stack.env()["BACKUP_ADMIN_KEY"]
    assert key not in (sample_stack.state_dir / "local.settings.json").read_text()  # the app never sees it
    sample_stack.restart_functions()
    assert sample_stack.env()["FUNCTIONS_MASTER_KEY"] == key
    assert admin("GET", "/host/status").status == 200
