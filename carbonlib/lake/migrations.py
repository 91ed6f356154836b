"""Versioned schema migrations.

``MIGRATIONS[n]`` brings a lake from schema version ``n - 1`` to ``n``.  Version 1
creates every table of :mod:`carbonlib.lake.schema`.  When the data model changes,
bump ``SCHEMA_VERSION`` and add the step that alters existing lakes (ALTER TABLE ...),
never edit a released step.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from .schema import METRICS, SCHEMA_VERSION, TABLES
from .sql import ident
from .transaction import transaction


def _create_v1(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    for table in TABLES.values():
        con.execute(table.ddl(catalog))
        if table.partition_by:
            con.execute(f"ALTER TABLE {ident(catalog)}.{table.name} SET PARTITIONED BY ({table.partition_sql})")
    con.execute(f"DELETE FROM {ident(catalog)}.metric")  # reference data: re-running the step must not duplicate it
    con.executemany(
        f"INSERT INTO {ident(catalog)}.metric VALUES (?, ?, ?, ?, ?)",
        [(m.name, m.unit, m.description, m.min_valid, m.max_valid) for m in METRICS.values()],
    )


def _device_registry_v2(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Device registry: vendor, location and calibration due date of a device; the instrument and calibration
    of lifecycle events (new lakes already have them from step 1, hence IF NOT EXISTS)."""
    for added in ("device ADD COLUMN IF NOT EXISTS vendor VARCHAR", "device ADD COLUMN IF NOT EXISTS latitude DOUBLE",
                  "device ADD COLUMN IF NOT EXISTS longitude DOUBLE",
                  "device ADD COLUMN IF NOT EXISTS calibration_due DATE",
                  "device_event ADD COLUMN IF NOT EXISTS serial_no VARCHAR",
                  "device_event ADD COLUMN IF NOT EXISTS model VARCHAR",
                  "device_event ADD COLUMN IF NOT EXISTS calibration_due DATE"):
        con.execute(f"ALTER TABLE {ident(catalog)}.{added}")


def _alerts_v3(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Alerts: the lifecycle table ``alert_event`` (new lakes have it from step 1, hence IF NOT EXISTS)."""
    con.execute(TABLES["alert_event"].ddl(catalog))


def _ledger_review_v4(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Ledger review as an event stream (table ``activity_review``), evidence attachments (``activity_evidence``)
    and measured fuel parameters of an entry (``activity.ncv``, ``carbon_content``, ``oxidation``).
    Existing entries keep the status they were entered with (their status until a first review step), so every
    figure of an existing lake stays."""
    con.execute(TABLES["activity_review"].ddl(catalog))
    con.execute(TABLES["activity_evidence"].ddl(catalog))
    for added in ("activity ADD COLUMN IF NOT EXISTS ncv DOUBLE",
                  "activity ADD COLUMN IF NOT EXISTS carbon_content DOUBLE",
                  "activity ADD COLUMN IF NOT EXISTS oxidation DOUBLE"):
        con.execute(f"ALTER TABLE {ident(catalog)}.{added}")


def _factor_library_v5(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Factor library: ``emission_factor.effective_year`` (the accounts now read the lake's factor rows; the
    accounting layer seeds the packaged ones, see ``carbonlib.accounting.factor_library.seed``); cap requests
    and their decisions (clause 6.2.2: ``cap_request``, ``cap_decision``)."""
    con.execute(f"ALTER TABLE {ident(catalog)}.emission_factor ADD COLUMN IF NOT EXISTS effective_year INTEGER")
    con.execute(TABLES["cap_request"].ddl(catalog))
    con.execute(TABLES["cap_decision"].ddl(catalog))


def _registry_v6(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """The credit registry: ``credit_event`` becomes the published mirror of the registry's store, written only
    by the registry (owner), with the transaction's log number, a retirement's purpose, cap year and
    beneficiary, and a sale's price.  Existing rows keep their values; a retirement of the old convention
    (retired in the year after the cap year, from the beneficiary's holding account ``ACC-<org>``) gets purpose
    compliance, that cap year and that org as beneficiary."""
    for added in ("op_seq BIGINT", "purpose VARCHAR", "cap_year INTEGER", "beneficiary VARCHAR", "price_cny DOUBLE"):
        con.execute(f"ALTER TABLE {ident(catalog)}.credit_event ADD COLUMN IF NOT EXISTS {added}")
    con.execute(f"UPDATE {ident(catalog)}.credit_event SET purpose = 'compliance', cap_year = year(event_time) - 1, "
                "beneficiary = substr(from_account, 5) WHERE event_type = 'retire' AND purpose IS NULL")


def _project_area_v7(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Project areas: stand boundaries (``forest_stand.boundary_wkt``) and the stands each credit project claims
    (``project_stand``).  An existing project claims the stands of its own site (its org), as before."""
    con.execute(f"ALTER TABLE {ident(catalog)}.forest_stand ADD COLUMN IF NOT EXISTS boundary_wkt VARCHAR")
    con.execute(TABLES["project_stand"].ddl(catalog))
    con.execute(f"INSERT INTO {ident(catalog)}.project_stand SELECT p.project_id, s.stand_id "
                f"FROM {ident(catalog)}.credit_project AS p JOIN {ident(catalog)}.forest_stand AS s USING (org_id) "
                f"WHERE NOT EXISTS (SELECT 1 FROM {ident(catalog)}.project_stand AS c "
                "WHERE c.project_id = p.project_id AND c.stand_id = s.stand_id)")


def _org_history_v8(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Organisation master data with history: ``org.opened_on`` and the dated changes ``org_change`` (rename,
    move, close).  Existing orgs keep their rows, open since before any data (``opened_on`` NULL)."""
    con.execute(f"ALTER TABLE {ident(catalog)}.org ADD COLUMN IF NOT EXISTS opened_on DATE")
    con.execute(TABLES["org_change"].ddl(catalog))


def _uncertainty_v9(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Uncertainty: a factor row's 95 % uncertainty (``emission_factor.uncertainty_pct``) and every account
    figure's 95 % interval (``account.ci95_low``, ``ci95_high``, ``uncertainty``).  Existing rows get NULL: their
    factors state no uncertainty, and the accounts are recomputed under the new method version."""
    con.execute(f"ALTER TABLE {ident(catalog)}.emission_factor ADD COLUMN IF NOT EXISTS uncertainty_pct DOUBLE")
    for added in ("ci95_low DOUBLE", "ci95_high DOUBLE", "uncertainty VARCHAR"):
        con.execute(f"ALTER TABLE {ident(catalog)}.account ADD COLUMN IF NOT EXISTS {added}")


MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection, str], None]] = {
    1: _create_v1, 2: _device_registry_v2, 3: _alerts_v3, 4: _ledger_review_v4, 5: _factor_library_v5,
    6: _registry_v6, 7: _project_area_v7, 8: _org_history_v8,
    9: _uncertainty_v9}
assert max(MIGRATIONS) == SCHEMA_VERSION, "every schema version needs its migration step"


def migrate(con: duckdb.DuckDBPyConnection, catalog: str, from_version: int) -> int:
    """Apply every step after ``from_version`` in one transaction; return the new version."""
    with transaction(con):
        for version in range(from_version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](con, catalog)
        con.execute(f"DELETE FROM {ident(catalog)}.lake_meta WHERE key = 'schema_version'")
        con.execute(f"INSERT INTO {ident(catalog)}.lake_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
    return SCHEMA_VERSION
