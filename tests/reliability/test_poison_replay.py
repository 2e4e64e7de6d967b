"""Replaying one poison message works however many messages the poison queue holds (row 12's replay path).

The adapter finds the message by receiving the poison queue page by page; the operator's replay
must reach a message behind the first page (32), leave every other message in poison, visible,
and never hang.
"""

from __future__ import annotations

import base64
import secrets

import pytest

from tests.support.queues import all_messages, send_wire
from tests.support.runtimes import service_runtime


@pytest.mark.stack
@pytest.mark.timeout(120)
def test_a_poison_message_behind_the_first_page_is_replayed(stack):
    rt = service_runtime(stack)
    connection = stack["PRIMARY_STORAGE_CONNECTION_STRING"]
    tag = secrets.token_hex(4)
    poison, target = f"rel-{tag}-poison", f"rel-{tag}"
    rt.queues.ensure_queue(target)
    ids = [send_wire(connection, poison, base64.b64encode(f'{{"n": {n}}}'.encode()).decode()) for n in range(45)]
    for chosen in (ids[40], ids[3]):
        rt.queues.move(poison, chosen, target)
    replayed = all_messages(connection, target)
    assert sorted(m.body for m in replayed) == [b'{"n": 3}', b'{"n": 40}']
    left = all_messages(connection, poison)
    assert len(left) == 43 and {ids[3], ids[40]}.isdisjoint(m.message_id for m in left)
    # Still visible to the operator's next listing, not hidden by the search.
    assert len(rt.queues.peek(poison)) == 32


@pytest.mark.stack
def test_the_operator_lists_every_poison_message(stack):
    from shared.services.auth import Principal
    from shared.services.poison import list_poison

    tag = secrets.token_hex(4)
    rt = service_runtime(stack, COMMIT_QUEUE=f"rel-{tag}-commits", REPLICATION_QUEUE=f"rel-{tag}-replication",
                         METERING_QUEUE=f"rel-{tag}-metering")
    for n in range(40):
        send_wire(stack["PRIMARY_STORAGE_CONNECTION_STRING"], f"rel-{tag}-commits-poison",
                  base64.b64encode(f'{{"n": {n}}}'.encode()).decode())
    assert len(list_poison(rt, Principal("operator"))) == 40
