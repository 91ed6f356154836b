"""One transaction helper for every write to the lake."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

_NOT_ACTIVE = "no transaction is active"


@retry(retry=retry_if_exception_type(duckdb.Error), stop=stop_after_attempt(100), wait=wait_fixed(0.05), reraise=True)
def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """End the transaction, however it failed.

    After a failed COMMIT DuckDB has already aborted the transaction ("no transaction is
    active": nothing to do).  A ROLLBACK can itself fail while another process holds the
    SQLite catalog lock; it is retried, because a connection left inside an aborted
    transaction refuses every later statement, including the caller's clean-up and retry.
    """
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException as error:
        if _NOT_ACTIVE not in str(error):
            raise


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, rolled back on any error; the original error is re-raised unmasked."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
