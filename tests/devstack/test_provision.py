"""Provisioning creates the queues and the Cosmos DB containers of docs/design.md, and may run again."""

from __future__ import annotations

import warnings

import pytest
from azure.cosmos import CosmosClient
from azure.storage.queue import QueueServiceClient

from devstack.provision import CONTAINERS, provision_cosmos, provision_queues

pytestmark = pytest.mark.timeout(60)


def test_queues_and_their_poison_queues_exist(sample_stack):
    connection = sample_stack.env()["PRIMARY_STORAGE_CONNECTION_STRING"]
    provision_queues(connection)  # a second run changes nothing
    names = {queue.name for queue in QueueServiceClient.from_connection_string(connection).list_queues()}
    assert {"commits", "commits-poison", "replication", "replication-poison", "metering", "metering-poison"} <= names


def test_containers_are_partitioned_by_vault_and_sessions_expire_after_7_days(sample_stack):
    env = sample_stack.env()
    provision_cosmos(env["COSMOS_ENDPOINT"], env["COSMOS_KEY"], "backup")  # a second run changes nothing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = CosmosClient(env["COSMOS_ENDPOINT"], env["COSMOS_KEY"], connection_verify=False)
        database = client.get_database_client("backup")
        properties = {name: database.get_container_client(name).read() for name in CONTAINERS}
    assert set(CONTAINERS) == {"vaults", "instances", "recovery_points", "packs", "sessions", "usage"}
    assert all(p["partitionKey"]["paths"] == ["/vault_id"] for p in properties.values())
    assert properties["sessions"]["defaultTtl"] == 7 * 24 * 3600
