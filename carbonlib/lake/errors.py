"""Errors raised by the lake layer; each message names what is wrong and the fix."""

from __future__ import annotations


class LakeError(Exception):
    """Base class of lake errors."""


class NotALakeError(LakeError):
    """The configured location holds no Carbon lake."""


class SchemaVersionError(LakeError):
    """The lake's schema version does not match this carbonlib."""


class UnknownTableError(LakeError, KeyError):
    """A table name that is not in the data model (also a KeyError, as a name lookup)."""

    def __str__(self) -> str:
        return str(self.args[0])


class LakeBusyError(LakeError):
    """The catalog stayed locked by another process longer than the lock timeout; nothing was written."""


class DamagedLakeError(LakeError):
    """Files the catalog references are missing, truncated or unreadable (see ``carbon lake verify``)."""


class StorageUnreachableError(LakeError):
    """The object store holding the lake's data files does not answer (down, wrong address, network); nothing was
    written, and the lake is not damaged."""


class CatalogUnreachableError(LakeError):
    """The PostgreSQL server holding the lake's catalog does not answer (stopped, restarting, wrong address, network);
    nothing was written, and the lake is not damaged.  ``reason`` is what the server's client library said."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class OwnedTableError(LakeError):
    """A service-owned table (accounts, roll-ups, run log, the lake's own tables) was written from outside its service."""


#: Characters of a refused value shown in a message (the rest is cut, so a message stays readable).
SHOWN_CHARACTERS = 60


def shown(value) -> str:
    """``value`` for a message: its repr, cut to :data:`SHOWN_CHARACTERS` characters."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS - 1] + "…"


class SchemaViolation(LakeError):
    """Rows refused by a typed writer; nothing of the batch was written.

    ``violations`` is a DataFrame with columns ``row_number``, ``field``, ``value`` and
    ``reason`` (row numbers are 0-based positions in the submitted batch; -1 for the batch as
    a whole).  The message shows the first five, each value cut to :data:`SHOWN_CHARACTERS`.
    """

    def __init__(self, table: str, violations, fix: str):
        self.table = table
        self.violations = violations
        head = violations.head(5)
        lines = [
            f"  row {r.row_number}, field {r.field!r} = {shown(r.value)}: {r.reason}" for r in head.itertuples()
        ]
        more = len(violations) - len(head)
        if more:
            lines.append(f"  ... and {more} more")
        super().__init__(
            f"{len(violations)} problem(s) in the batch for table {table!r}; nothing was written:\n"
            + "\n".join(lines)
            + f"\nFix: {fix}"
        )
