"""A queue message nested too deeply is refused like any other invalid message, so it ends in poison."""

import pytest

from shared.domain.messages import CommitMessage, MessageError, ReplicationMessage, decode


@pytest.mark.parametrize("body", [
    b"[" * 40_000,                                  # within the 48 KiB message bound
    b'{"version": 1, "vault_id": ' + b"[" * 40_000,
    b'{"version": 1, "blobs": ' + b"[" * 300 + b"]" * 300 + b"}",
], ids=["unclosed-arrays", "in-a-field", "300-levels-closed"])
@pytest.mark.parametrize("model", [CommitMessage, ReplicationMessage])
def test_deeply_nested_messages_are_message_errors(model, body):
    with pytest.raises(MessageError, match="nested more than"):
        decode(model, body)
