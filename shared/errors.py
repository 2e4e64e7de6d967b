"""The service's error hierarchy, shared by services, adapters and triggers.

    ServiceError                    500  an internal failure (logged with context)
    ├── BadRequest                  400  a body or parameter that does not validate
    ├── Unauthorized                401  no credential, or one that matches nothing
    ├── Forbidden                   403  a valid credential that may not do this
    ├── NotFound                    404  unknown id, or another tenant's id
    ├── Conflict                    409  the resource exists or changed concurrently
    │   └── PreconditionFailed      412  an ETag-conditional write lost a race
    ├── LimitExceeded               429  a machine's or vault's limit refuses the request (Retry-After)
    ├── StorageUnavailable          503  a storage or database endpoint cannot be reached
    └── CommitRejected              ---  a commit failed validation; recorded, then poisoned
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 500


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class PreconditionFailed(Conflict):
    status = 412


class LimitExceeded(ServiceError):
    """`retry_after`: whole seconds after which the same request may succeed (the Retry-After header)."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class StorageUnavailable(ServiceError):
    status = 503


class CommitRejected(ServiceError):
    status = 422
