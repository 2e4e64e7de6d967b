"""Credential formats parse strictly and compare only by digest."""

from hypothesis import given, strategies as st

from shared.domain import credentials


def test_each_kind_round_trips():
    vault, instance = credentials.new_id(), credentials.new_id()
    for kind, args in (("operator", ()), ("vault_admin", (vault,)), ("registration", (vault,)),
                       ("instance", (vault, instance))):
        token = credentials.new_credential(kind, *args)
        parsed = credentials.parse(token)
        assert parsed is not None and parsed.kind == kind
        assert parsed.vault_id == (vault if args else None)
        assert parsed.instance_id == (instance if kind == "instance" else None)


def test_matches_only_the_right_secret():
    token = credentials.new_credential("operator")
    stored = credentials.digest(token)
    assert credentials.matches(token, stored)
    assert not credentials.matches(credentials.new_credential("operator"), stored)
    assert not credentials.matches(token, None)
    assert not credentials.matches(token, "")


def test_digest_does_not_contain_the_secret():
    token = credentials.new_credential("operator")
    assert token[4:] not in credentials.digest(token)


@given(st.text(max_size=200))
def test_parse_never_raises_on_garbage(text):
    parsed = credentials.parse(text)
    assert parsed is None or parsed.token == text


def test_tokens_are_unique():
    assert len({credentials.new_credential("operator") for _ in range(200)}) == 200
