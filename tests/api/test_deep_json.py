"""Through the local host: a deeply nested body answers 400 with one sentence, not a 500."""

import pytest

pytestmark = pytest.mark.stack


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"name": ' * 100_000], ids=["arrays", "objects"])
def test_a_deeply_nested_body_is_a_bad_request(api, stack, raw):
    status, answer = api.call("POST", "/vaults", stack["BACKUP_ADMIN_KEY"], raw=raw)
    assert status == 400, answer
    assert answer["error"].startswith("request body is JSON nested more than") and "\n" not in answer["error"]
