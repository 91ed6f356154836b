"""Typed, all-or-nothing writers that validate batches against the schema definition.

A batch (pandas DataFrame or pyarrow Table) is registered in DuckDB and checked in SQL
(fast enough for millions of telemetry rows): missing/unknown columns, type casts,
required fields, allowed values, ranges, references to other tables, per-metric
plausible ranges and units for telemetry, duplicate keys inside the batch, and
conflicts with rows already in the lake.

Rows whose key already exists with identical values are skipped, so re-running an
ingestion is idempotent.  A key that exists with different values is a conflict in
append-only tables (corrections are new entries) and a replacement in derived tables
(``append_only=False``, e.g. ``account``), done in the same transaction; a derived table
can also be told which key groups the batch replaces as a whole (``replace_within``): rows
of those groups that are not in the batch are deleted in that transaction too.  With
``on_error="raise"`` (default) any problem raises :class:`SchemaViolation` and nothing
is written; with ``on_error="quarantine"`` the good rows are written and the bad ones go
to ``telemetry_reject`` in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from .errors import SchemaViolation
from .schema import METRICS, Table
from .transaction import transaction

_BATCH = "_carbon_batch"
_GROUPS = "_carbon_groups"
_ROW = "_row"


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows inserted, identical rows skipped, rows quarantined, stale rows deleted."""

    table: str
    inserted: int
    skipped: int
    rejected: int
    deleted: int = 0


def _as_arrow(data: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if not isinstance(data, pa.Table):
        raise TypeError(f"expected a pandas DataFrame or pyarrow Table, got {type(data).__name__}")
    return data.append_column(_ROW, pa.array(np.arange(data.num_rows, dtype=np.int64)))


def _quote(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _column_checks(table: Table, catalog: str) -> list[tuple[str, str, str]]:
    """(field, SQL condition true for a bad row, reason) for every column rule."""
    checks = []
    for c in table.columns:
        typed = f"TRY_CAST({c.name} AS {c.type})"
        checks.append((c.name, f"{c.name} IS NOT NULL AND {typed} IS NULL", f"cannot be read as {c.type}"))
        if not c.nullable:
            checks.append((c.name, f"{c.name} IS NULL", "is required (NULL given)"))
        if c.type == "DOUBLE":
            checks.append((c.name, f"isnan({typed}) OR isinf({typed})", "is NaN or infinite"))
        if c.allowed is not None:
            allowed = ", ".join(_quote(a) if isinstance(a, str) else str(a) for a in c.allowed)
            checks.append((c.name, f"{typed} NOT IN ({allowed})", f"must be one of {list(c.allowed)}"))
        if c.min is not None:
            checks.append((c.name, f"{typed} < {c.min}", f"is below the minimum {c.min} {c.unit or ''}".rstrip()))
        if c.max is not None:
            checks.append((c.name, f"{typed} > {c.max}", f"is above the maximum {c.max} {c.unit or ''}".rstrip()))
        if c.references:
            ref_table, ref_col = c.references.split(".")
            known = f"SELECT {ref_col} FROM {catalog}.{ref_table}"
            if ref_table == table.name:  # e.g. org.parent_id may point into the same batch
                known += f" UNION ALL SELECT {ref_col} FROM {_BATCH}"
            checks.append(
                (c.name, f"{c.name} IS NOT NULL AND {c.name} NOT IN ({known})", f"unknown {ref_table} ({ref_col} not in the lake)")
            )
    if table.name == "telemetry":
        low = " ".join(f"WHEN {_quote(m.name)} THEN {m.min_valid}" for m in METRICS.values())
        high = " ".join(f"WHEN {_quote(m.name)} THEN {m.max_valid}" for m in METRICS.values())
        checks.append(
            ("value", f"TRY_CAST(value AS DOUBLE) < CASE metric {low} END OR TRY_CAST(value AS DOUBLE) > CASE metric {high} END", "outside the metric's plausible range")
        )
    return checks


def _unit_check(names: list[str]) -> list[tuple[str, str, str]]:
    """Telemetry batches may carry a ``unit`` column; it must be the metric's canonical unit."""
    if "unit" not in names:
        return []
    cases = " ".join(f"WHEN {_quote(m.name)} THEN {_quote(m.unit)}" for m in METRICS.values())
    return [("unit", f"unit IS DISTINCT FROM (CASE metric {cases} END)", "is not the metric's canonical unit (convert first)")]


def find_violations(con: duckdb.DuckDBPyConnection, table: Table, catalog: str, names: list[str]) -> pd.DataFrame:
    """Run every check on the registered batch; return one row per problem."""
    checks = _column_checks(table, catalog)
    if table.name == "telemetry":
        checks += _unit_check(names)
    parts = [
        f"SELECT {_ROW} AS row_number, {_quote(field)} AS field, CAST({field} AS VARCHAR) AS value, "
        f"{_quote(reason)} AS reason FROM {_BATCH} WHERE {condition}"
        for field, condition, reason in checks
    ]
    key = ", ".join(table.key)
    parts.append(
        f"SELECT {_ROW}, {_quote(table.key[-1])}, CAST({table.key[-1]} AS VARCHAR), "
        f"'duplicate key (' || {_quote(key)} || ') inside the batch' FROM "
        f"(SELECT {_ROW}, {key}, row_number() OVER (PARTITION BY {key} ORDER BY {_ROW}) AS n FROM {_BATCH}) WHERE n > 1"
    )
    sql = " UNION ALL ".join(parts) + " ORDER BY row_number, field"
    return con.execute(sql).df()


def _typed_select(table: Table) -> str:
    return ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in table.columns)


def _existing_filter(table: Table) -> str:
    """Restrict the duplicate look-up to the batch's time range (file pruning on partitions)."""
    if "ts" in table.column_names:
        return "WHERE t.ts BETWEEN (SELECT min(ts) FROM _carbon_typed) AND (SELECT max(ts) FROM _carbon_typed)"
    return ""


def append(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
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
    batch = _as_arrow(data)
    names = [n for n in batch.column_names if n != _ROW]
    missing = [c for c in table.column_names if c not in names]
    allowed_extra = {"unit"} if table.name == "telemetry" else set()
    unknown = [n for n in names if n not in table.column_names and n not in allowed_extra]
    if missing or unknown:
        raise SchemaViolation(
            table.name,
            pd.DataFrame(
                [(-1, m, None, "column missing from the batch") for m in missing]
                + [(-1, u, None, "column not in the table") for u in unknown],
                columns=["row_number", "field", "value", "reason"],
            ),
            f"give exactly the columns {table.column_names} (see `carbon schema {table.name}`)",
        )
    con.register(_BATCH, batch)
    try:
        bad = find_violations(con, table, catalog, names)
        con.register("_carbon_bad", bad)
        if len(bad) and on_error == "raise":
            raise SchemaViolation(table.name, bad, "correct these rows and resubmit the whole batch")
        key = " AND ".join(f"t.{k} = b.{k}" for k in table.key)
        same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM b.{c}" for c in table.column_names)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _carbon_typed AS SELECT {_typed_select(table)}, {_ROW} FROM {_BATCH} "
            f"WHERE {_ROW} NOT IN (SELECT row_number FROM _carbon_bad)"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _carbon_existing AS SELECT b.{_ROW}, ({same}) AS identical "
            f"FROM _carbon_typed b JOIN (SELECT * FROM {catalog}.{table.name} t {_existing_filter(table)}) t ON {key}"
        )
        conflicts = con.execute(
            f"SELECT e.{_ROW} AS row_number, {_quote(table.key[-1])} AS field, "
            f"CAST(b.{table.key[-1]} AS VARCHAR) AS value, "
            f"'key already in the lake with different values (append-only: enter a correction instead)' AS reason "
            f"FROM _carbon_existing e JOIN _carbon_typed b USING ({_ROW}) WHERE NOT e.identical"
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
        stale_rows = _stale_rows(con, catalog, table, replace_within) if replace_within is not None else None
        deleted = con.execute(f"SELECT count(*) {stale_rows}").fetchone()[0] if stale_rows else 0
        with transaction(con):
            if deleted:  # only then: an empty DELETE would still commit a snapshot
                con.execute(f"DELETE {stale_rows}")
            if replaced:
                con.execute(
                    f"DELETE FROM {catalog}.{table.name} t WHERE EXISTS (SELECT 1 FROM _carbon_typed b "
                    f"JOIN _carbon_existing e USING ({_ROW}) WHERE NOT e.identical AND {key})"
                )
            inserted = con.execute(
                f"INSERT INTO {catalog}.{table.name} SELECT {', '.join(table.column_names)} FROM _carbon_typed "
                f"WHERE {_ROW} NOT IN (SELECT {_ROW} FROM _carbon_existing WHERE identical) "
                f"AND {_ROW} NOT IN (SELECT row_number FROM _carbon_bad)"
            ).fetchone()[0]
            if len(bad):
                stamp = received_at or datetime.now(timezone.utc).replace(tzinfo=None)
                _quarantine(con, catalog, bad, source, names, stamp)
        return WriteResult(table.name, int(inserted), int(skipped), int(bad["row_number"].nunique()) if len(bad) else 0,
                           int(deleted))
    finally:
        con.unregister(_BATCH)
        con.unregister("_carbon_bad")
        if replace_within is not None:
            con.unregister(_GROUPS)
        con.execute("DROP TABLE IF EXISTS _carbon_typed; DROP TABLE IF EXISTS _carbon_existing")


def _stale_rows(con: duckdb.DuckDBPyConnection, catalog: str, table: Table, groups: pd.DataFrame) -> str:
    """FROM-clause of the stored rows in the key ``groups`` that the typed batch does not contain."""
    con.register(_GROUPS, groups.drop_duplicates())
    in_group = " AND ".join(f"g.{c} = t.{c}" for c in groups.columns)
    same_key = " AND ".join(f"b.{k} = t.{k}" for k in table.key)
    return (f"FROM {catalog}.{table.name} t WHERE EXISTS (SELECT 1 FROM {_GROUPS} g WHERE {in_group}) "
            f"AND NOT EXISTS (SELECT 1 FROM _carbon_typed b WHERE {same_key})")


def _quarantine(
    con: duckdb.DuckDBPyConnection, catalog: str, bad: pd.DataFrame, source: str, names: list[str], received_at: datetime
) -> None:
    """Copy the refused raw rows with their reasons into ``telemetry_reject``."""
    reasons = bad.groupby("row_number", as_index=False).agg(
        field=("field", lambda f: ",".join(dict.fromkeys(f))),
        reason=("reason", lambda r: "; ".join(dict.fromkeys(r))),
    )
    fields = ", ".join(f'"{n}" := b."{n}"' for n in names)
    con.register("_carbon_reasons", reasons)
    try:
        con.execute(
            f"INSERT INTO {catalog}.telemetry_reject "
            f"SELECT ?::TIMESTAMP, ?, r.row_number, r.field, r.reason, "
            f"to_json(struct_pack({fields}))::VARCHAR FROM _carbon_reasons r "
            f"JOIN {_BATCH} b ON b.{_ROW} = r.row_number",
            [received_at, source],
        )
    finally:
        con.unregister("_carbon_reasons")
