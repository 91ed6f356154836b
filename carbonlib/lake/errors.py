"""Errors raised by the lake layer; each message names what is wrong and the fix."""

from __future__ import annotations


class LakeError(Exception):
    """Base class of lake errors."""


class NotALakeError(LakeError):
    """The configured location holds no Carbon lake."""


class SchemaVersionError(LakeError):
    """The lake's schema version does not match this carbonlib."""


class SchemaViolation(LakeError):
    """Rows refused by a typed writer; nothing of the batch was written.

    ``violations`` is a DataFrame with columns ``row_number``, ``field``, ``value`` and
    ``reason`` (row numbers are 0-based positions in the submitted batch).
    """

    def __init__(self, table: str, violations, fix: str):
        self.table = table
        self.violations = violations
        shown = violations.head(5)
        lines = [
            f"  row {r.row_number}, field {r.field!r} = {r.value!r}: {r.reason}" for r in shown.itertuples()
        ]
        more = len(violations) - len(shown)
        if more:
            lines.append(f"  ... and {more} more")
        super().__init__(
            f"{len(violations)} problem(s) in the batch for table {table!r}; nothing was written:\n"
            + "\n".join(lines)
            + f"\nFix: {fix}"
        )
