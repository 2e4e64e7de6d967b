"""Creates the stack's queues and Cosmos DB containers, as infra does in Azure; safe to run again."""

from __future__ import annotations

import warnings

from azure.core.exceptions import ResourceExistsError

# The loopback Cosmos server's certificate is self-signed; verification is off for it alone.
warnings.filterwarnings("ignore", message="Unverified HTTPS request is being made to host '127.0.0.1'")

# docs/design.md, "Queues" and "Cosmos DB containers".
QUEUES = ("commits", "replication", "metering")
PARTITION_KEY_PATH = "/vault_id"
SESSION_TTL_SECONDS = 7 * 24 * 3600
CONTAINERS: dict[str, int | None] = {  # container name -> default TTL in seconds (None: no TTL)
    "vaults": None,
    "instances": None,
    "recovery_points": None,
    "packs": None,
    "sessions": SESSION_TTL_SECONDS,
    "usage": None,
}


def provision_queues(connection_string: str, names: tuple[str, ...] = QUEUES) -> None:
    """Create each queue and its `-poison` queue in the primary storage account."""
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(connection_string)
    for name in names:
        for queue in (name, f"{name}-poison"):
            try:
                service.create_queue(queue)
            except ResourceExistsError:
                pass


def provision_cosmos(endpoint: str, key: str, database: str) -> None:
    """Create the database and its containers, all partitioned by /vault_id."""
    from azure.cosmos import CosmosClient, PartitionKey

    client = CosmosClient(endpoint, credential=key, connection_verify=False)
    db = client.create_database_if_not_exists(database)
    for name, ttl in CONTAINERS.items():
        options = {"default_ttl": ttl} if ttl else {}
        db.create_container_if_not_exists(id=name, partition_key=PartitionKey(path=PARTITION_KEY_PATH), **options)
