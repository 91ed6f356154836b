"""One transaction helper for every write to the lake."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, rolled back on any error.

    A failed COMMIT (e.g. the catalog was locked by another process's commit) has already
    aborted the transaction; the ROLLBACK then has nothing to undo and must not mask the
    original error, which the caller's retry policy needs to see.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.TransactionException:
            pass  # already aborted by the failed statement or COMMIT
        raise
