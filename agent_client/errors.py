"""The client's error hierarchy; each class carries the exit code the CLI returns for it.

    BackupError                 exit 1   anything the user can act on
    ├── UsageError              exit 2   bad arguments or configuration
    ├── WrongPassphraseError    exit 3   the passphrase does not unwrap the vault key
    ├── ServiceUnreachableError exit 4   the API or storage cannot be reached
    │   └── StorageBusyError    exit 4   storage answered 429/5xx or dropped the connection (retried)
    ├── ServiceError            exit 5   the API answered with an error
    │   ├── NotFoundError       exit 6   unknown recovery point, vault, instance
    │   │   └── BlobNotFoundError exit 6 a vault blob that should exist does not
    │   └── LimitError          exit 9   a limit of the machine or vault refused it; retry later
    ├── IntegrityError          exit 7   data failed authentication; names the damaged paths
    │   └── BlobConflictError   exit 7   a blob name this backup writes was taken with other content
    └── PartialBackupError      exit 8   the backup completed but skipped unreadable files
"""

from __future__ import annotations


class BackupError(Exception):
    """An error the user can act on; str(error) is one sentence."""

    exit_code = 1


class UsageError(BackupError):
    exit_code = 2


class WrongPassphraseError(BackupError):
    exit_code = 3

    def __init__(self, message: str = "wrong passphrase") -> None:
        super().__init__(message)


class ServiceUnreachableError(BackupError):
    exit_code = 4


class StorageBusyError(ServiceUnreachableError):
    """A transient storage failure; the retrying blob port retries these before giving up.

    `retry_after`: the seconds the storage asked to wait (Retry-After), or None.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceError(BackupError):
    exit_code = 5

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotFoundError(ServiceError):
    exit_code = 6


class BlobNotFoundError(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"the vault has no blob {name}", 404)
        self.name = name


class LimitError(ServiceError):
    """`retry_after`: the seconds the service asked to wait (Retry-After), or None."""

    exit_code = 9

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class IntegrityError(BackupError):
    exit_code = 7

    def __init__(self, message: str, damaged_paths: list[str] | None = None) -> None:
        super().__init__(message)
        self.damaged_paths = damaged_paths or []


class BlobConflictError(IntegrityError):
    """Another writer created a blob under a name this machine writes: never commit over it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} already exists with other content: another writer took its name, so this "
                         "backup commits nothing (it may be an attack by a machine of the vault)", [name])
        self.name = name


class PartialBackupError(BackupError):
    exit_code = 8
