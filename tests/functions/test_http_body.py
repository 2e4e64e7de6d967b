"""The HTTP body parser answers hostile nesting with a one-sentence 400, never an internal error."""

import azure.functions as func
import pytest
from pydantic import BaseModel

from functions._http import body
from shared.errors import BadRequest


class _Named(BaseModel):
    name: str


def _request(raw: bytes) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/vaults", body=raw, headers={})


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"name": ' * 100_000, b"[" * 500 + b"]" * 500],
                         ids=["unclosed-arrays", "unclosed-objects", "500-levels"])
def test_deeply_nested_bodies_are_bad_requests(raw):
    with pytest.raises(BadRequest) as raised:
        body(_request(raw), _Named)
    reason = str(raised.value)
    assert raised.value.status == 400 and reason.startswith("request body") and "\n" not in reason


def test_a_plain_body_still_validates():
    assert body(_request(b'{"name": "x"}'), _Named).name == "x"
