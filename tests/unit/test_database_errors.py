"""Which database errors are "unavailable" (503 to a client, a retried batch for a consumer) and which
are bugs or poison (500, a dead letter): a retry must never be promised for an error it cannot cure."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.db import database_unavailable


class PgError(Exception):
    """What SQLAlchemy's asyncpg adapter raises: the server's SQLSTATE on the exception."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def wrapped(kind: type[DBAPIError], orig: BaseException, invalidated: bool = False) -> DBAPIError:
    return kind("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (wrapped(DBAPIError, PgError("the database system is starting up", "57P03")), True),
        (wrapped(DBAPIError, PgError("terminating connection due to administrator command", "57P01")), True),
        (wrapped(OperationalError, PgError("connection refused", "08001")), True),
        (wrapped(DBAPIError, PgError("deadlock detected", "40P01")), True),
        (wrapped(DBAPIError, PgError("canceling statement due to lock timeout", "55P03")), True),
        (wrapped(DBAPIError, PgError("too many connections", "53300")), True),
        (wrapped(IntegrityError, PgError("duplicate key value", "23505")), False),
        (wrapped(DBAPIError, PgError("column does not exist", "42703")), False),
        (wrapped(DBAPIError, PgError("anything", "XX000"), invalidated=True), True),
        (wrapped(InterfaceError, ValueError("invalid input for query argument $3")), False),
        (wrapped(InterfaceError, RuntimeError("connection is closed")), True),
        (wrapped(OperationalError, sqlite3.OperationalError("database is locked")), True),
        (wrapped(OperationalError, sqlite3.OperationalError("no such table: events")), False),
        (PoolTimeout("QueuePool limit of size 10 overflow 10 reached"), True),
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (ValueError("a bad event"), False),
        (KeyError("stream"), False),
    ],
)
def test_only_errors_a_retry_can_cure_count_as_unavailable(error: BaseException, unavailable: bool) -> None:
    assert database_unavailable(error) is unavailable
