"""Storage-level errors, mapped to HTTP answers by the app's error middleware."""

import sqlite3

import asyncpg

# A UNIQUE/CHECK/foreign-key rule refused a row, in either backend.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)



class StorageError(Exception):
    """Base class."""


class StorageUnavailable(StorageError):
    """The database cannot take writes right now (disk full, read-only, locked too long).

    Nothing was acknowledged: callers must not tell a resident their submission was received.
    """


class Conflict(StorageError):
    """A uniqueness rule was violated (duplicate name, duplicate key)."""
