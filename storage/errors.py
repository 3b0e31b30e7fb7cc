"""Storage-level errors, mapped to HTTP answers by the app's error middleware."""


class StorageError(Exception):
    """Base class."""


class StorageUnavailable(StorageError):
    """The database cannot take writes right now (disk full, read-only, locked too long).

    Nothing was acknowledged: callers must not tell a resident their submission was received.
    """


class Conflict(StorageError):
    """A uniqueness rule was violated (duplicate name, duplicate key)."""
