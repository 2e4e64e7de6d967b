"""The continuation envelope gives back the Cosmos token only to the listing that returned it."""

import re

import pytest
from hypothesis import given, strategies as st

from shared.domain import continuation_tokens
from shared.errors import BadRequest

COSMOS_TOKEN = '{"token":"+RID:gAABAIAAAANYHgAAAAAAAA==#RT:1#TRC:1","range":{"min":"","max":"FF"}}'
SCOPE = continuation_tokens.listing_scope("recovery-points", "ab" * 16, state="committed", instance=None)


def test_a_sealed_token_opens_in_its_own_listing():
    sealed = continuation_tokens.seal(COSMOS_TOKEN, SCOPE)
    assert continuation_tokens.open_token(sealed, SCOPE) == COSMOS_TOKEN
    assert COSMOS_TOKEN not in sealed and re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", sealed)


def test_no_token_is_the_first_or_the_last_page():
    assert continuation_tokens.seal(None, SCOPE) is None
    assert continuation_tokens.open_token(None, SCOPE) is None


@pytest.mark.parametrize("other_scope", [
    continuation_tokens.listing_scope("recovery-points", "cd" * 16, state="committed", instance=None),
    continuation_tokens.listing_scope("recovery-points", "ab" * 16, state="all", instance=None),
    continuation_tokens.listing_scope("recovery-points", "ab" * 16, state="committed", instance="ef" * 16),
    continuation_tokens.listing_scope("instances", "ab" * 16, state="committed", instance=None),
], ids=["another-vault", "another-state", "another-instance", "another-route"])
def test_a_token_of_another_listing_is_refused(other_scope):
    with pytest.raises(BadRequest, match="not one this listing returned"):
        continuation_tokens.open_token(continuation_tokens.seal(COSMOS_TOKEN, SCOPE), other_scope)


@pytest.mark.parametrize("junk", ["abc", COSMOS_TOKEN, "{}", ".", "a.b", "é.é", "AAAA.AAAA"])
def test_junk_is_refused(junk):
    with pytest.raises(BadRequest, match="not one this listing returned"):
        continuation_tokens.open_token(junk, SCOPE)


@given(st.data())
def test_any_edit_is_refused(data):
    sealed = continuation_tokens.seal(COSMOS_TOKEN, SCOPE)
    position = data.draw(st.integers(0, len(sealed) - 1))
    replacement = data.draw(st.sampled_from("ABCDQgwabc012-_.").filter(lambda c: c != sealed[position]))
    with pytest.raises(BadRequest, match="not one this listing returned"):
        continuation_tokens.open_token(sealed[:position] + replacement + sealed[position + 1:], SCOPE)


def test_a_token_of_at_most_two_kib_fits_the_query_parameter_bound():
    assert len(continuation_tokens.seal("x" * 2048, SCOPE)) <= continuation_tokens.MAX_LENGTH
