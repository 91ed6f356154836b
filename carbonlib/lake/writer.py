"""Typed, all-or-nothing writers that validate batches against the schema definition.

A batch (pandas DataFrame or pyarrow Table) is registered in DuckDB and checked in SQL
(fast enough for millions of telemetry rows), in three stages:

1. *columns* of the raw batch: missing/unknown columns, type casts (a fraction is never
   rounded into an integer, a boolean never becomes a number, a time stamp with an offset is
   converted to UTC), required fields, allowed values, ranges, identifiers
   (:data:`~carbonlib.lake.schema.ID_PATTERN`), control characters and length of text, dates
   between :data:`~carbonlib.lake.schema.EARLIEST_DATE` and tomorrow, references to other
   tables, per-metric plausible ranges and units for telemetry;
2. *rules* of the table (:class:`~carbonlib.lake.schema.Rule`) on the typed rows, joined with
   what they need (a reading with its device, an org with its parent, a reversal with the
   entry it reverses);
3. duplicate keys inside the batch, and conflicts with rows already in the lake.

Every stage first finds the rows that fail any check in one scan and only then works out
which checks those rows fail, so a clean batch costs one pass per stage.

Rows whose key already exists with identical values are skipped, so re-running an
ingestion is idempotent.  A key that exists with different values is a conflict in
append-only tables (corrections are new entries) and a replacement in derived tables
(``append_only=False``, e.g. ``account``), done in the same transaction; a derived table
can also be told which key groups the batch replaces as a whole (``replace_within``): rows
of those groups that are not in the batch are deleted in that transaction too.  With
``on_error="raise"`` (default) any problem raises :class:`SchemaViolation` and nothing
is written; with ``on_error="quarantine"`` the good rows are written and the bad ones go
to ``telemetry_reject`` in the same transaction.  A batch whose shape is wrong (a missing
column, a column of booleans where numbers belong, text that is not UTF-8) is refused as a
whole in both modes; only a nullable column that a later schema version added may be left out
(it is written as NULL), so writers made before a migration keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import SchemaViolation
from .schema import CATALOG, EARLIEST_DATE, ID_PATTERN, METRICS, Table
from .sql import literal
from .transaction import transaction

_BATCH = "_carbon_batch"
_TYPED = "_carbon_typed"
_SUSPECT = "_carbon_suspect"
_GROUPS = "_carbon_groups"
_ROW = "_row"
_INTEGER_TYPES = ("UTINYINT", "SMALLINT", "INTEGER", "BIGINT")
_NUMERIC_TYPES = (*_INTEGER_TYPES, "DOUBLE")
_VIOLATION_COLUMNS = ["row_number", "field", "value", "reason"]
#: Telemetry batches may carry columns named ``src_...`` (file line, raw time stamp): not stored, but kept
#: in the quarantine payload of a refused row so that it names where the row came from.
PROVENANCE_PREFIX = "src_"
#: A provenance column whose text, when not NULL, refuses the row with that reason (checks only the caller can make:
#: a reading replayed from outside the late window, from a device that is no longer active).
REFUSED = "src_refused"


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows inserted, identical rows skipped, rows quarantined, stale rows deleted.

    ``retried``: the PostgreSQL catalog went away during the write and it was done again; when the first attempt's
    commit had landed, its rows are counted as skipped (nothing is written twice), so a caller refreshing what the
    write touched should do so.
    """

    table: str
    inserted: int
    skipped: int
    rejected: int
    deleted: int = 0
    retried: bool = False


class _Check(NamedTuple):
    field: str
    condition: str  # SQL, true for a bad row
    reason: str
    shown: str | None = None  # column whose value the message shows (default: field)
    reason_sql: str | None = None  # SQL giving the reason per row (instead of ``reason``)


def _violations(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=_VIOLATION_COLUMNS)


# ------------------------------------------------------------------------------- shape
def _bad_text_cells(frame: pd.DataFrame) -> list[tuple]:
    """(row, column, shown value, reason) of every cell that is not valid Unicode text (lone surrogates, bad bytes)."""
    found = []
    for name in frame.columns:
        if frame[name].dtype != object:
            continue
        for row, value in enumerate(frame[name].to_numpy()):
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    found.append((row, str(name), value.encode("utf-8", "backslashreplace").decode(),
                                  "is not valid UTF-8 text (a lone surrogate); send text as UTF-8"))
            elif isinstance(value, (bytes, bytearray)):
                try:
                    bytes(value).decode("utf-8")
                except UnicodeDecodeError:
                    found.append((row, str(name), bytes(value).decode("utf-8", "backslashreplace"),
                                  "is not valid UTF-8 text (undecodable bytes); send text as UTF-8"))
    return found


def _as_arrow(table: Table, data: pd.DataFrame | pa.Table) -> pa.Table:
    """The batch as a pyarrow Table with text as UTF-8 strings and a row number column; bad text refused."""
    if isinstance(data, pd.DataFrame):
        try:
            data = pa.Table.from_pandas(data, preserve_index=False)
        except (UnicodeError, pa.ArrowException) as error:
            bad = _bad_text_cells(data)
            if bad:
                raise SchemaViolation(table.name, _violations(bad), "correct the text and resubmit the batch") from None
            raise SchemaViolation(table.name, _violations([(-1, "(batch)", None, f"cannot be read as a table: {error}")]),
                                  f"give one value per cell, as in `carbon schema {table.name}`") from None
    if not isinstance(data, pa.Table):
        raise TypeError(f"expected a pandas DataFrame or pyarrow Table, got {type(data).__name__}")
    for i, field in enumerate(data.schema):
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            try:
                data = data.set_column(i, field.name, pc.cast(data.column(i), pa.string()))
            except pa.ArrowInvalid:
                bad = _bad_text_cells(pd.DataFrame({field.name: data.column(i).to_pylist()}, dtype=object))
                raise SchemaViolation(table.name, _violations(bad), "correct the text and resubmit the batch") from None
    for column in table.columns:  # columns a later schema version added may be left out (see Column.since)
        if column.since > 1 and column.nullable and column.name not in data.column_names:
            data = data.append_column(column.name, pa.nulls(data.num_rows, _ARROW_TYPES[column.type]))
    return data.append_column(_ROW, pa.array(np.arange(data.num_rows, dtype=np.int64)))


def _shape_problems(table: Table, batch: pa.Table, names: list[str]) -> pd.DataFrame:
    """Problems of the batch as a whole: missing or unknown columns, columns of the wrong kind."""
    problems = [(-1, m, None, "column missing from the batch") for m in table.column_names if m not in names]
    problems += [(-1, u, None, "column not in the table") for u in names if u not in table.column_names
                 and not (table.name == "telemetry" and (u == "unit" or u.startswith(PROVENANCE_PREFIX)))]
    for c in table.columns:
        if c.name not in names:
            continue
        given = batch.schema.field(c.name).type
        if c.type in _NUMERIC_TYPES and pa.types.is_boolean(given):
            problems.append((-1, c.name, None, f"holds booleans; {c.type} numbers are expected"))
        if c.type == "BOOLEAN" and (pa.types.is_integer(given) or pa.types.is_floating(given)):
            problems.append((-1, c.name, None, "holds numbers; booleans (true/false) are expected"))
    return _violations(problems)


# ------------------------------------------------------------------------------- checks
#: Arrow types a column of each SQL type takes as is (no cast, so a cast cannot fail).
_NATIVE = {
    "VARCHAR": (pa.types.is_string, pa.types.is_large_string),
    "DOUBLE": (pa.types.is_float64,),
    "BIGINT": (lambda t: t == pa.int64(),),
    "INTEGER": (lambda t: t == pa.int32(),),
    "UTINYINT": (lambda t: t == pa.uint8(),),
    "BOOLEAN": (pa.types.is_boolean,),
    "DATE": (pa.types.is_date32,),
    "TIMESTAMP": (lambda t: pa.types.is_timestamp(t) and t.tz is None,),
}


#: Arrow type of each SQL type (for the NULL columns of later-added columns a batch leaves out).
_ARROW_TYPES = {"VARCHAR": pa.string(), "DOUBLE": pa.float64(), "BIGINT": pa.int64(), "INTEGER": pa.int32(),
                "UTINYINT": pa.uint8(), "BOOLEAN": pa.bool_(), "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us")}


def _native(sql_type: str, given: pa.DataType) -> bool:
    return any(test(given) for test in _NATIVE.get(sql_type, ()))


def _typed(column: str, sql_type: str, given: pa.DataType) -> str:
    """SQL of ``column`` cast to ``sql_type`` (NULL when it cannot be); text time stamps keep their UTC offset."""
    if _native(sql_type, given):
        return column
    if sql_type == "TIMESTAMP" and (pa.types.is_string(given) or pa.types.is_large_string(given)):
        return f"TRY_CAST(TRY_CAST({column} AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"TRY_CAST({column} AS {sql_type})"


def _raw(name: str) -> str:
    """Column of the typed batch holding the raw value of ``name`` (kept only for columns that needed a cast)."""
    return f"_raw_{name}"


def _typed_select(table: Table, batch: pa.Table) -> str:
    """SELECT list of the typed batch: every column cast to its type, the raw value of cast columns, extras, row."""
    parts = []
    for c in table.columns:
        given = batch.schema.field(c.name).type
        parts.append(f"{_typed(c.name, c.type, given)} AS {c.name}")
        if not _native(c.type, given):
            parts.append(f"{c.name} AS {_raw(c.name)}")
    extras = [n for n in batch.column_names if n not in table.column_names]  # telemetry's unit, provenance, row
    return ", ".join(parts + extras)


def _column_checks(table: Table, batch: pa.Table) -> list[_Check]:
    """Every per-column rule as a check on the typed batch (``b``)."""
    checks = []
    for c in table.columns:
        given = batch.schema.field(c.name).type
        raw = c.name if _native(c.type, given) else _raw(c.name)
        if raw != c.name:
            checks.append(_Check(c.name, f"{raw} IS NOT NULL AND {c.name} IS NULL", f"cannot be read as {c.type}", raw))
        if not c.nullable:
            checks.append(_Check(c.name, f"{raw} IS NULL", "is required (NULL given)"))
        if c.type == "DOUBLE":
            checks.append(_Check(c.name, f"isnan({c.name}) OR isinf({c.name})", "is NaN or infinite"))
        if c.type in _INTEGER_TYPES and not pa.types.is_integer(given):
            whole = f"TRY_CAST({raw} AS DOUBLE)"
            checks.append(_Check(c.name, f"{whole} <> trunc({whole})", "is not a whole number (never rounded)", raw))
        if c.allowed is not None:
            allowed = ", ".join(literal(a) if isinstance(a, str) else str(a) for a in c.allowed)
            checks.append(_Check(c.name, f"{c.name} NOT IN ({allowed})", f"must be one of {list(c.allowed)}"))
        if c.min is not None:
            checks.append(_Check(c.name, f"{c.name} < {c.min}", f"is below the minimum {c.min} {c.unit or ''}".rstrip()))
        if c.max is not None:
            checks.append(_Check(c.name, f"{c.name} > {c.max}", f"is above the maximum {c.max} {c.unit or ''}".rstrip()))
        if c.type == "VARCHAR" and c.allowed is None and not (c.identifier and c.references):
            # allowed values and ids that must exist in another table are checked by those rules already
            checks += _text_checks(c)
        if c.type in ("DATE", "TIMESTAMP"):
            checks.append(_Check(c.name, f"{c.name} < DATE {literal(EARLIEST_DATE)}", f"is before {EARLIEST_DATE}"))
            if not c.future:
                checks.append(_Check(c.name, f"{c.name} > CAST(now() AS TIMESTAMP) + INTERVAL 1 DAY", "lies in the future"))
        if c.references:
            ref_table, ref_col = c.references.split(".")
            known = f"SELECT {ref_col} FROM {CATALOG}.{ref_table}"
            if ref_table == table.name:  # e.g. org.parent_id may point into the same batch
                known += f" UNION ALL SELECT {ref_col} FROM {_TYPED}"
            checks.append(_Check(c.name, f"{c.name} IS NOT NULL AND {c.name} NOT IN ({known})",
                                 f"unknown {ref_table} ({ref_col} not in the lake)"))
    if table.name == "telemetry":
        low = " ".join(f"WHEN {literal(m.name)} THEN {m.min_valid}" for m in METRICS.values())
        high = " ".join(f"WHEN {literal(m.name)} THEN {m.max_valid}" for m in METRICS.values())
        checks.append(_Check("value", f"value < CASE metric {low} END OR value > CASE metric {high} END",
                             "outside the metric's plausible range"))
        if REFUSED in batch.column_names:  # the caller's own refusal (e.g. a replayed MQTT reading), with its reason
            checks.append(_Check(REFUSED, f"{REFUSED} IS NOT NULL", "", reason_sql=f"b.{REFUSED}"))
        if "unit" in batch.column_names:
            cases = " ".join(f"WHEN {literal(m.name)} THEN {literal(m.unit)}" for m in METRICS.values())
            checks.append(_Check("unit", f"unit IS DISTINCT FROM (CASE metric {cases} END)",
                                 "is not the metric's canonical unit (convert first)"))
    return checks


def _text_checks(c) -> list[_Check]:
    """Identifier pattern, control characters, blank and length of a VARCHAR column."""
    if c.identifier:
        return [_Check(c.name, f"{c.name} IS NOT NULL AND (NOT regexp_full_match({c.name}, {literal(ID_PATTERN)}) "
                               f"OR contains({c.name}, '..'))",
                       "is not an identifier (letters, digits and _ - . : only, starting with a letter or digit, "
                       "at most 128 characters, no '..')")]
    controls = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]" if c.multiline else r"[\x00-\x1f\x7f]"
    checks = [_Check(c.name, f"regexp_matches({c.name}, {literal(controls)})", "contains control characters")]
    if not c.nullable and not c.blank_ok:
        checks.append(_Check(c.name, f"trim({c.name}) = ''", "is blank"))
    if c.max_length:
        checks.append(_Check(c.name, f"length({c.name}) > {int(c.max_length)}", f"is longer than {c.max_length} characters"))
    return checks


def _rule_checks(table: Table) -> list[_Check]:
    return [_Check(r.field, r.condition.format(batch=_TYPED, catalog=CATALOG), r.reason) for r in table.rules]


def _failing(con: duckdb.DuckDBPyConnection, checks: list[_Check], source: str) -> pd.DataFrame:
    """One row per (row, failed check) of the typed batch.

    ``source`` is a FROM clause with ``{rows} AS b`` (the rows checked) and ``{batch}`` /
    ``{catalog}`` placeholders.  One scan finds the rows that fail any check; only those
    are then tested check by check.
    """
    if not checks:
        return _violations([])
    any_bad = " OR ".join(f"({check.condition})" for check in checks)
    every = source.format(rows=_TYPED, batch=_TYPED, catalog=CATALOG)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_SUSPECT} AS SELECT b.* FROM {every} WHERE {any_bad}")
    if not con.execute(f"SELECT count(*) FROM {_SUSPECT}").fetchone()[0]:
        return _violations([])
    suspects = source.format(rows=_SUSPECT, batch=_TYPED, catalog=CATALOG)
    parts = [f"SELECT b.{_ROW} AS row_number, {literal(check.field)} AS field, "
             f"CAST(b.{check.shown or check.field} AS VARCHAR) AS value, {_reason_sql(check)} AS reason "
             f"FROM {suspects} WHERE {check.condition}" for check in checks]
    return con.execute(" UNION ALL ".join(parts) + " ORDER BY row_number, field").df()


def _reason_sql(check: _Check) -> str:
    """The SQL of a check's reason: its own per-row expression, or its fixed text quoted."""
    return check.reason_sql or literal(check.reason)


def _duplicates(con: duckdb.DuckDBPyConnection, table: Table) -> pd.DataFrame:
    """Typed rows repeating a key of an earlier row of the same batch."""
    key = ", ".join(table.key)
    if not con.execute(f"SELECT count(*) FROM (SELECT {key} FROM {_TYPED} GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]:
        return _violations([])
    return con.execute(
        f"SELECT {_ROW} AS row_number, {literal(table.key[-1])} AS field, CAST({table.key[-1]} AS VARCHAR) AS value, "
        f"'duplicate key (' || {literal(key)} || ') inside the batch' AS reason FROM "
        f"(SELECT {_ROW}, {key}, row_number() OVER (PARTITION BY {key} ORDER BY {_ROW}) AS n FROM {_TYPED}) "
        "WHERE n > 1 ORDER BY row_number").df()


def find_violations(con: duckdb.DuckDBPyConnection, table: Table, batch: pa.Table) -> pd.DataFrame:
    """Type the registered raw batch into ``_carbon_typed`` (one scan) and check it; one row per problem."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_TYPED} AS SELECT {_typed_select(table, batch)} FROM {_BATCH}")
    found = [_failing(con, _column_checks(table, batch), "{rows} AS b"),
             _failing(con, _rule_checks(table), table.rule_from), _duplicates(con, table)]
    found = pd.concat([f for f in found if len(f)] or [_violations([])], ignore_index=True)
    return found.sort_values(["row_number", "field"], kind="stable", ignore_index=True)


# ------------------------------------------------------------------------------- writing
def _existing_filter(table: Table) -> str:
    """Restrict the duplicate look-up to the batch's time range (file pruning on partitions)."""
    if "ts" in table.column_names:
        return f"WHERE t.ts BETWEEN (SELECT min(ts) FROM {_TYPED}) AND (SELECT max(ts) FROM {_TYPED})"
    return ""


def append(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    data: pd.DataFrame | pa.Table,
    *,
    source: str,
    on_error: str = "raise",
    received_at: datetime | None = None,
    replace_within: pd.DataFrame | None = None,
) -> WriteResult:
    """Validate ``data`` and append it to ``table`` in one transaction (see module doc).

    ``replace_within`` (derived tables only): rows whose columns form a prefix of the key
    (e.g. org_id, period, method_version of ``account``); every stored row of those groups
    that the batch does not contain is deleted in the same transaction.
    """
    if on_error not in ("raise", "quarantine"):
        raise ValueError(f"on_error must be 'raise' or 'quarantine', not {on_error!r}")
    if replace_within is not None:
        prefix = list(replace_within.columns)
        if table.append_only or prefix != list(table.key[:len(prefix)]) or len(prefix) >= len(table.key):
            raise ValueError(f"replace_within needs a derived table and columns that are a proper prefix of its key "
                             f"{table.key}; got {prefix} for {table.name}")
    if on_error == "quarantine" and table.name != "telemetry":
        raise ValueError("quarantine is for telemetry; ledger tables must be corrected and resubmitted")
    batch = _as_arrow(table, data)
    names = [n for n in batch.column_names if n != _ROW]
    shape = _shape_problems(table, batch, names)
    if len(shape):
        raise SchemaViolation(table.name, shape, f"give exactly the columns {table.column_names}, of the types "
                                                 f"`carbon schema {table.name}` shows")
    con.register(_BATCH, batch)
    try:
        bad = find_violations(con, table, batch)
        if len(bad) and on_error == "raise":
            raise SchemaViolation(table.name, bad, "correct these rows and resubmit the whole batch")
        con.register("_carbon_bad", bad)
        key = " AND ".join(f"t.{k} = b.{k}" for k in table.key)
        same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM b.{c}" for c in table.column_names)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _carbon_existing AS SELECT b.{_ROW}, ({same}) AS identical "
            f"FROM {_TYPED} b JOIN (SELECT * FROM {CATALOG}.{table.name} t {_existing_filter(table)}) t ON {key} "
            f"WHERE b.{_ROW} NOT IN (SELECT row_number FROM _carbon_bad)"
        )
        conflicts = con.execute(
            f"SELECT e.{_ROW} AS row_number, {literal(table.key[-1])} AS field, "
            f"CAST(b.{table.key[-1]} AS VARCHAR) AS value, "
            f"'key already in the lake with different values (append-only: enter a correction instead)' AS reason "
            f"FROM _carbon_existing e JOIN {_TYPED} b USING ({_ROW}) WHERE NOT e.identical"
        ).df()
        replaced = 0
        if len(conflicts) and not table.append_only:  # derived tables: a new value replaces the old one
            replaced, conflicts = len(conflicts), conflicts.iloc[0:0]
        if len(conflicts) and on_error == "raise":
            raise SchemaViolation(table.name, conflicts, "use new keys; corrections reverse entries, never overwrite")
        if len(conflicts):
            bad = pd.concat([bad, conflicts], ignore_index=True)
            con.register("_carbon_bad", bad)
        skipped = con.execute("SELECT count(*) FROM _carbon_existing WHERE identical").fetchone()[0]
        stale_rows = _stale_rows(con, table, replace_within) if replace_within is not None else None
        deleted = con.execute(f"SELECT count(*) {stale_rows}").fetchone()[0] if stale_rows else 0
        with transaction(con):
            if deleted:  # only then: an empty DELETE would still commit a snapshot
                con.execute(f"DELETE {stale_rows}")
            if replaced:
                con.execute(
                    f"DELETE FROM {CATALOG}.{table.name} t WHERE EXISTS (SELECT 1 FROM {_TYPED} b "
                    f"JOIN _carbon_existing e USING ({_ROW}) WHERE NOT e.identical AND {key})"
                )
            inserted = con.execute(
                f"INSERT INTO {CATALOG}.{table.name} SELECT {', '.join(table.column_names)} FROM {_TYPED} "
                f"WHERE {_ROW} NOT IN (SELECT {_ROW} FROM _carbon_existing WHERE identical) "
                f"AND {_ROW} NOT IN (SELECT row_number FROM _carbon_bad)"
            ).fetchone()[0]
            if len(bad):
                stamp = received_at or datetime.now(timezone.utc).replace(tzinfo=None)
                _quarantine(con, bad, source, names, stamp)
        return WriteResult(table.name, int(inserted), int(skipped), int(bad["row_number"].nunique()) if len(bad) else 0,
                           int(deleted))
    finally:
        for view in (_BATCH, "_carbon_bad", _GROUPS):
            try:
                con.unregister(view)
            except duckdb.Error:
                pass
        con.execute(f"DROP TABLE IF EXISTS {_TYPED}; DROP TABLE IF EXISTS _carbon_existing; "
                    f"DROP TABLE IF EXISTS {_SUSPECT}")


def _stale_rows(con: duckdb.DuckDBPyConnection, table: Table, groups: pd.DataFrame) -> str:
    """FROM-clause of the stored rows in the key ``groups`` that the typed batch does not contain."""
    con.register(_GROUPS, groups.drop_duplicates())
    in_group = " AND ".join(f"g.{c} = t.{c}" for c in groups.columns)
    same_key = " AND ".join(f"b.{k} = t.{k}" for k in table.key)
    return (f"FROM {CATALOG}.{table.name} t WHERE EXISTS (SELECT 1 FROM {_GROUPS} g WHERE {in_group}) "
            f"AND NOT EXISTS (SELECT 1 FROM {_TYPED} b WHERE {same_key})")


def _quarantine(con: duckdb.DuckDBPyConnection, bad: pd.DataFrame, source: str, names: list[str],
                received_at: datetime) -> None:
    """Copy the refused raw rows with their reasons into ``telemetry_reject`` (a record already quarantined from
    the same source for the same reason is not copied again: re-ingesting a file adds nothing)."""
    reasons = bad.groupby("row_number", as_index=False).agg(
        field=("field", lambda f: ",".join(dict.fromkeys(f))),
        reason=("reason", lambda r: "; ".join(dict.fromkeys(r))),
    )
    fields = ", ".join(f'"{n}" := b."{n}"' for n in names)
    con.register("_carbon_reasons", reasons)
    try:
        con.execute(
            f"INSERT INTO {CATALOG}.telemetry_reject "
            f"SELECT * FROM (SELECT ?::TIMESTAMP, ? AS source, r.row_number, r.field, r.reason, "
            f"to_json(struct_pack({fields}))::VARCHAR AS payload FROM _carbon_reasons r "
            f"JOIN {_BATCH} b ON b.{_ROW} = r.row_number) AS n "
            f"WHERE NOT EXISTS (SELECT 1 FROM {CATALOG}.telemetry_reject AS q "
            f"WHERE q.source = n.source AND q.payload = n.payload AND q.reason = n.reason)",
            [received_at, source],
        )
    finally:
        con.unregister("_carbon_reasons")
