"""The OpenAPI document is served and describes exactly the routes the function app registers."""

import re

from shared.services.openapi_document import openapi_document
from tests.api.conftest import registered_routes


def test_document_lists_exactly_the_registered_routes():
    documented = {(method, path) for path, item in openapi_document()["paths"].items() for method in item}
    assert documented == set(registered_routes())


def test_document_is_served(api):
    status, document = api.call("GET", "/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    assert document == openapi_document() or set(document["paths"]) == set(openapi_document()["paths"])


def test_every_path_parameter_is_declared():
    for path, item in openapi_document()["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for operation in item.values():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == names, path


def test_bad_bodies_are_400_with_one_line_reason(api, tenants):
    victim, _ = tenants
    for raw in (b"not json", b"[]", b'{"name": 5}', b'{"name": "x", "surprise": 1}'):
        status, payload = api.call("POST", "/instances", victim["registration_key"], raw=raw)
        assert status == 400 and "\n" not in payload["error"], payload
