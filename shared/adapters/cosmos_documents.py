"""Cosmos DB container access: point reads, conditional writes and partition-scoped queries."""

from __future__ import annotations

import logging
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
import urllib3
from azure.core.pipeline.transport import RequestsTransport

from azure.core import MatchConditions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import CosmosClient, exceptions

from shared.adapters.identity import managed_identity_credential
from shared.errors import BadRequest, Conflict, NotFound, PreconditionFailed, StorageUnavailable
from shared.settings import CosmosConnection

log = logging.getLogger(__name__)

# Certificate checks are off only for the loopback emulator (below): urllib3's warning on every
# request to it says nothing new and buries the host's log. Other hosts still warn.
warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning,
                        message=r"Unverified HTTPS request is being made to host '(127\.0\.0\.1|localhost|::1)'")

CONTAINERS = ("vaults", "instances", "recovery_points", "packs", "sessions", "usage")


# The local Cosmos API server (@vercel/cosmosdb-server 1.0.1) answers a point read of a missing
# document with this 500 instead of a 404; nothing else produces it, so it means "not found".
_EMULATOR_MISSING_DOCUMENT = "Cannot read properties of undefined"


def _translate(exc: Exception, what: str) -> Exception:
    if isinstance(exc, exceptions.CosmosHttpResponseError) and exc.status_code == 500 and (
        _EMULATOR_MISSING_DOCUMENT in str(exc)
    ):
        return NotFound(f"{what} not found")
    if isinstance(exc, exceptions.CosmosResourceNotFoundError):
        return NotFound(f"{what} not found")
    if isinstance(exc, exceptions.CosmosAccessConditionFailedError):
        return PreconditionFailed(f"{what} changed concurrently")
    if isinstance(exc, exceptions.CosmosResourceExistsError):
        return Conflict(f"{what} already exists")
    if isinstance(exc, exceptions.CosmosHttpResponseError) and exc.status_code in (429, 503):
        return StorageUnavailable("the catalog database is busy or unavailable")
    if _unreachable(exc):
        return StorageUnavailable("the catalog database cannot be reached")
    return exc


def _unreachable(exc: Exception) -> bool:
    return isinstance(exc, (ServiceRequestError, ServiceResponseError))


# Cosmos keeps a continuation token under this many KiB by ending the page earlier: the service
# hands tokens out in an envelope 4/3 their size, read back from a query parameter of 4 KiB.
_TOKEN_KIB = 2


def _rejects_continuation(exc: Exception) -> bool:
    """Cosmos answers a malformed continuation token 400; the local server fails on it with a 500."""
    return isinstance(exc, exceptions.CosmosHttpResponseError) and (
        exc.status_code == 400 or (exc.status_code == 500 and _EMULATOR_MISSING_DOCUMENT in str(exc))
    )


class _ClientPool:
    """Cosmos clients lent to one caller at a time, made when none is idle.

    azure-cosmos 4.17.1 keeps per-request state on the client: every response sets the client's
    `last_response_headers` to that response's headers, the retry loop then writes throttle counts
    into whatever headers object that attribute holds at that moment (another thread's), a query
    copies its own headers while those writes land ("OrderedDict mutated during iteration"), and
    `by_page().continuation_token` is read from that attribute (another thread's token). A client
    used by one thread at a time has none of these races. A pool rather than one client per
    thread: the HTTP host and the catalog start threads per request and per commit, and a new
    client costs a round trip before its first request. All clients share one connection pool."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._idle: list[dict[str, Any]] = [self._containers()]  # connect once now: bad settings fail early

    def _containers(self) -> dict[str, Any]:
        database = self._connect()
        return {name: database.get_container_client(name) for name in CONTAINERS}

    @contextmanager
    def lease(self, name: str) -> Iterator[Any]:
        """The container client `name` of a client no other caller uses until the block ends."""
        with self._lock:
            containers = self._idle.pop() if self._idle else None
        if containers is None:
            containers = self._containers()
        try:
            yield containers[name]
        finally:
            with self._lock:
                self._idle.append(containers)


class CosmosDocuments:
    """One Cosmos container; every call names the vault partition it works in."""

    def __init__(self, clients: _ClientPool, name: str) -> None:
        self._clients = clients
        self.name = name

    def create(self, document: dict) -> dict:
        try:
            with self._clients.lease(self.name) as container:
                return container.create_item(document)
        except Exception as exc:  # noqa: BLE001 - translated at the boundary
            raise _translate(exc, f"{self.name} document {document.get('id')}") from exc

    def upsert(self, document: dict) -> dict:
        try:
            with self._clients.lease(self.name) as container:
                return container.upsert_item(document)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"{self.name} document {document.get('id')}") from exc

    def get(self, vault_id: str, doc_id: str) -> dict:
        """Point read; raises NotFound."""
        try:
            with self._clients.lease(self.name) as container:
                return container.read_item(doc_id, partition_key=vault_id)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"{self.name} document {doc_id}") from exc

    def find(self, vault_id: str, doc_id: str) -> dict | None:
        """The document or None. A query, not a point read: the local Cosmos server answers a
        point read of a missing document with a 500 that the SDK retries for half a second."""
        found = list(self.query(vault_id, "c.id = @id", {"id": doc_id}))
        return found[0] if found else None

    def replace(self, document: dict, etag: str) -> dict:
        """Replaces the document only if it still has `etag`; raises PreconditionFailed."""
        body = {k: v for k, v in document.items() if not k.startswith("_")}
        try:
            with self._clients.lease(self.name) as container:
                return container.replace_item(
                    document["id"], body, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"{self.name} document {document['id']}") from exc

    def delete(self, vault_id: str, doc_id: str, etag: str | None = None) -> None:
        """Deletes the document; succeeds if it is already gone (unless etag is given and differs)."""
        kwargs: dict[str, Any] = {}
        if etag:
            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            with self._clients.lease(self.name) as container:
                container.delete_item(doc_id, partition_key=vault_id, **kwargs)
        except exceptions.CosmosResourceNotFoundError:
            return
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"{self.name} document {doc_id}") from exc

    def query_page(
        self, vault_id: str, where: str, parameters: dict[str, Any], *, order_by: str | None = None,
        limit: int = 100, continuation: str | None = None, select: str = "*",
    ) -> tuple[list[dict], str | None]:
        """One page of `SELECT <select> FROM c WHERE c.vault_id = @vault_id AND (<where>)`; the
        continuation token of the next page is at most 2 KiB, so that it fits a query parameter."""
        sql, params = self._sql(vault_id, where, parameters, order_by, select)
        try:
            with self._clients.lease(self.name) as container:
                pages = container.query_items(
                    sql, parameters=params, partition_key=vault_id, max_item_count=limit,
                    continuation_token_limit=_TOKEN_KIB,
                ).by_page(continuation)
                page = next(pages, None)
                items = list(page) if page is not None else []
                following = pages.continuation_token
        except Exception as exc:  # noqa: BLE001
            if continuation and (_rejects_continuation(exc) or (_unreachable(exc) and self._answers(vault_id))):
                raise BadRequest("the continuation token is not one this listing returned") from exc
            raise _translate(exc, f"{self.name} query") from exc
        if continuation and not items and following == continuation:
            # The local server hands an unparseable token back unchanged with an empty page: a
            # client following it would page forever. Cosmos DB answers such a token 400.
            raise BadRequest("the continuation token is not one this listing returned")
        return items, following

    def _answers(self, vault_id: str) -> bool:
        """Whether the partition answers a query without a continuation token (one tiny page).

        The local server drops the connection on some malformed tokens instead of answering 400;
        if it answers the same partition without the token, the token was the problem, not the
        database."""
        sql, params = self._sql(vault_id, "true", {}, None, "VALUE 1")
        try:
            with self._clients.lease(self.name) as container:
                pages = container.query_items(sql, parameters=params, partition_key=vault_id, max_item_count=1)
                next(pages.by_page(), None)
            return True
        except Exception:  # noqa: BLE001 - unreachable: the caller reports the original error
            return False

    def query(
        self, vault_id: str, where: str = "true", parameters: dict[str, Any] | None = None, *,
        order_by: str | None = None, select: str = "*",
    ) -> Iterator[Any]:
        """Every matching item of the vault partition, lazily (holding one client until exhausted or closed)."""
        sql, params = self._sql(vault_id, where, parameters or {}, order_by, select)
        try:
            with self._clients.lease(self.name) as container:
                yield from container.query_items(sql, parameters=params, partition_key=vault_id)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"{self.name} query") from exc

    @staticmethod
    def _sql(vault_id, where, parameters, order_by, select):
        sql = f"SELECT {select} FROM c WHERE c.vault_id = @vault_id AND ({where})"
        if order_by:
            sql += f" ORDER BY {order_by}"
        params = [{"name": "@vault_id", "value": vault_id}]
        params += [{"name": f"@{k}", "value": v} for k, v in parameters.items()]
        return sql, params


# Connections kept alive for reuse by all clients of a catalog: at least as many as threads that
# query at once (the HTTP host's requests, 8 pack workers per commit), or urllib3 discards the
# extra ones after each request and the next request opens a new connection.
_KEPT_CONNECTIONS = 64


class _LoopbackTlsAdapter(requests.adapters.HTTPAdapter):
    """One prebuilt TLS context for every connection to the local emulator.

    Without a context of its own urllib3 reloads the system CA bundle for each new connection
    (about 40 ms each). Certificate checks are off because the emulator's certificate is
    self-signed; only loopback gets this."""

    def __init__(self) -> None:
        self._context = ssl.create_default_context()
        self._context.check_hostname = False
        self._context.verify_mode = ssl.CERT_NONE
        super().__init__(pool_maxsize=_KEPT_CONNECTIONS)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._context
        return super().init_poolmanager(*args, **kwargs)


def _shared_session(loopback: bool) -> requests.Session:
    session = requests.Session()
    if loopback:
        session.trust_env = False  # no proxy or ~/.netrc lookups on every request to loopback
        session.mount("https://", _LoopbackTlsAdapter())
    else:
        session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=_KEPT_CONNECTIONS))
    return session


class CosmosCatalog:
    """The catalog database: one CosmosDocuments per container of docs/design.md."""

    def __init__(self, connection: CosmosConnection, database: str) -> None:
        if connection.key:
            credential: Any = connection.key
        else:
            credential = managed_identity_credential(connection.managed_identity_client_id)
        session = _shared_session(connection.is_loopback)
        # The local emulator uses a self-signed certificate; skip verification only on loopback.
        verify = {"connection_verify": False} if connection.is_loopback else {}

        def connect() -> Any:
            transport = RequestsTransport(session=session, session_owner=False)
            client = CosmosClient(connection.endpoint, credential=credential, transport=transport, **verify)
            return client.get_database_client(database)

        clients = _ClientPool(connect)
        for name in CONTAINERS:
            setattr(self, name, CosmosDocuments(clients, name))

    vaults: CosmosDocuments
    instances: CosmosDocuments
    recovery_points: CosmosDocuments
    packs: CosmosDocuments
    sessions: CosmosDocuments
    usage: CosmosDocuments
