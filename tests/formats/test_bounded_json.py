"""JSON from outside the process parses as json.loads does, but hostile nesting is invalid JSON."""

import pytest

from shared.formats import bounded_json


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_documents_parse_as_json_loads_parses_them():
    assert bounded_json.parse(b'{"a": [1, {"b": null}], "c": "\\u00e9"}') == {"a": [1, {"b": None}], "c": "é"}
    assert bounded_json.parse(_nested(bounded_json.MAX_DEPTH)) is not None


@pytest.mark.parametrize("text", [
    _nested(bounded_json.MAX_DEPTH + 1),   # parses with json.loads, and would still fail later in json.dumps or pydantic
    "[" * 100_000,                          # json.loads raises RecursionError
    '{"a": ' * 100_000,
    _nested(900),                           # parses with json.loads only when called near the top of the stack
], ids=["one-past-the-bound", "unclosed-arrays", "unclosed-objects", "900-levels"])
def test_nesting_deeper_than_the_bound_is_invalid_json(text):
    with pytest.raises(bounded_json.JsonTooDeep, match=f"more than {bounded_json.MAX_DEPTH} levels") as raised:
        bounded_json.parse(text)
    assert isinstance(raised.value, ValueError)  # callers that refuse invalid JSON refuse this too


def test_other_invalid_json_is_still_a_value_error():
    with pytest.raises(ValueError):
        bounded_json.parse(b"\xff")
