"""Derived views over the lake: roll-ups that reports, dashboards and the catalog share.

Each view is a SQL text over the lake tables (optionally pinned to a snapshot) and a
function that runs it.  Views never read raw telemetry per dashboard interaction; they are
what scheduled jobs and the catalog materialise or query in bulk.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pandas as pd

from ..lake import Lake
from ..lake.sql import literal

_GOOD_QC = 0
#: Owner of the derived tables this package writes.
SERVICE = "accounting"


def telemetry_rollup_sql(lake: Lake, freq: str = "month", snapshot: int | None = None, where: str | None = None) -> str:
    """Per device, metric and period: count, sum, mean, min, max and good-QC share of values.

    ``freq`` is a DuckDB ``date_trunc`` part: 'hour', 'day', 'month' or 'year'.  Sums are in the
    metric's unit (kWh, GJ, m3, t, L for meters; for flux metrics the mean is the useful figure).
    ``where`` is an SQL condition on the telemetry columns written by the analyst (no values
    from elsewhere: :meth:`carbonlib.lake.Lake.query` runs one statement only).
    """
    if freq not in ("hour", "day", "month", "year"):
        raise ValueError(f"freq must be hour, day, month or year, not {freq!r}")
    filter_ = f"WHERE {where}" if where else ""
    return (
        f"SELECT device_id, metric, date_trunc({literal(freq)}, ts) AS period, count(*) AS n, sum(value) AS total, "
        f"avg(value) AS mean, min(value) AS minimum, max(value) AS maximum, "
        f"avg(CASE WHEN qc = {_GOOD_QC} THEN 1.0 ELSE 0.0 END) AS good_share "
        f"FROM {lake.relation('telemetry', snapshot)} {filter_} GROUP BY ALL"
    )


def telemetry_rollup(lake: Lake, freq: str = "month", snapshot: int | None = None, where: str | None = None) -> pd.DataFrame:
    """Run :func:`telemetry_rollup_sql`; one row per device, metric and period."""
    return lake.query(telemetry_rollup_sql(lake, freq, snapshot, where))


#: Order of org changes: by effective day, then (same day) the one recorded last wins.
_CHANGE_ORDER = "(c.effective_from, c.recorded_at, c.change_id)"


def org_tree_sql(lake: Lake, snapshot: int | None = None, as_of: date | str | None = None) -> str:
    """Every org as of day ``as_of`` (default today, UTC) with its depth and path from the province (ids joined by '/').

    The names and parents are those of table ``org`` changed by every ``org_change`` effective on or before
    ``as_of`` (the latest change of each kind wins; same day: the one recorded last).  Orgs opened after
    ``as_of`` are left out; closed orgs stay, with ``closed_on`` (their history belongs to the tree), and
    ``opened_on``.  The org table is read once (``o``, materialised), not once per level of the recursion.
    """
    day_sql = literal((pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now("UTC")).date().isoformat())
    org = lake.relation("org", snapshot)
    changed_sql = (
        f"SELECT c.org_id, arg_max(c.name_zh, {_CHANGE_ORDER}) FILTER (WHERE c.change = 'rename') AS name_zh, "
        f"arg_max(c.name_en, {_CHANGE_ORDER}) FILTER (WHERE c.change = 'rename') AS name_en, "
        f"arg_max(c.parent_id, {_CHANGE_ORDER}) FILTER (WHERE c.change = 'move') AS parent_id, "
        f"min(c.effective_from) FILTER (WHERE c.change = 'close') AS closed_on "
        f"FROM {lake.relation('org_change', snapshot)} AS c WHERE c.effective_from <= DATE {day_sql} GROUP BY c.org_id"
    )
    return (
        f"WITH RECURSIVE o AS MATERIALIZED (SELECT b.org_id, coalesce(c.parent_id, b.parent_id) AS parent_id, b.level, "
        f"b.kind, coalesce(c.name_zh, b.name_zh) AS name_zh, coalesce(c.name_en, b.name_en) AS name_en, "
        f"b.region_code, b.industry, b.opened_on, c.closed_on FROM {org} AS b LEFT JOIN ({changed_sql}) AS c USING (org_id) "
        f"WHERE b.opened_on IS NULL OR b.opened_on <= DATE {day_sql}), tree AS ("
        f"SELECT org_id, parent_id, level, kind, name_zh, name_en, region_code, industry, opened_on, closed_on, "
        f"0 AS depth, org_id AS path FROM o WHERE parent_id IS NULL "
        f"UNION ALL SELECT o.org_id, o.parent_id, o.level, o.kind, o.name_zh, o.name_en, o.region_code, o.industry, "
        f"o.opened_on, o.closed_on, t.depth + 1, t.path || '/' || o.org_id FROM o JOIN tree t ON o.parent_id = t.org_id) "
        f"SELECT * FROM tree ORDER BY path"
    )


def org_tree(lake: Lake, snapshot: int | None = None, as_of: date | str | None = None) -> pd.DataFrame:
    """Run :func:`org_tree_sql`."""
    return lake.query(org_tree_sql(lake, snapshot, as_of))


def org_paths(lake: Lake, snapshot: int | None = None) -> dict[str, str]:
    """org_id -> path from the province today (``'P43/C4301/D430121'``), root first: what scopes are checked
    against (a moved org is in its new parent's subtree from the day of the move)."""
    tree = org_tree(lake, snapshot)
    return dict(zip(tree.org_id, tree.path))


def org_history(lake: Lake, org_id: str, snapshot: int | None = None) -> pd.DataFrame:
    """The dated changes of ``org_id`` (table ``org_change``) in effective order, oldest first."""
    return lake.query(f"SELECT * FROM {lake.relation('org_change', snapshot)} WHERE org_id = ? "
                      "ORDER BY effective_from, recorded_at, change_id", [org_id])


def activity_status_sql(lake: Lake, snapshot: int | None = None) -> str:
    """Every ledger entry with its **derived** status: the newest step of its review (table ``activity_review``:
    submitted, returned, approved, rejected, reversed, corrected), or the status it was entered with when it has
    no step yet.  Adds ``entered_status``, ``last_step_at`` (UTC) and ``last_step_by``."""
    activity, review = lake.relation("activity", snapshot), lake.relation("activity_review", snapshot)
    return (
        f"SELECT a.* REPLACE (coalesce(r.event, a.status) AS status), a.status AS entered_status, "
        f"r.event_time AS last_step_at, r.actor AS last_step_by FROM {activity} AS a LEFT JOIN ("
        f"SELECT entry_id, arg_max(event, review_id) AS event, arg_max(event_time, review_id) AS event_time, "
        f"arg_max(actor, review_id) AS actor FROM {review} GROUP BY entry_id) AS r USING (entry_id)"
    )


def activity_effective_sql(lake: Lake, snapshot: int | None = None) -> str:
    """Ledger entries in force: approved entries (derived status, :func:`activity_status_sql`), with legacy
    reversal entries and the entries they reverse netted out.  Reversed and corrected entries are not in force."""
    entries = activity_status_sql(lake, snapshot)
    return (
        f"WITH e AS ({entries}) SELECT * EXCLUDE (entered_status, last_step_at, last_step_by) FROM e "
        f"WHERE status = 'approved' AND reverses_entry_id IS NULL AND entry_id NOT IN (SELECT reverses_entry_id "
        f"FROM e WHERE reverses_entry_id IS NOT NULL AND status = 'approved') ORDER BY entry_id"
    )


def activity_effective(lake: Lake, snapshot: int | None = None) -> pd.DataFrame:
    """Run :func:`activity_effective_sql`."""
    return lake.query(activity_effective_sql(lake, snapshot))


#: Views published in the Intake catalog: name -> (SQL builder, description).
VIEWS: dict[str, tuple[Callable[..., str], str]] = {
    "telemetry_monthly": (telemetry_rollup_sql, "telemetry rolled up per device, metric and month"),
    "org_tree": (org_tree_sql, "organisation tree with depth and path"),
    "activity_effective": (activity_effective_sql, "approved ledger entries in force (reversals netted out)"),
}


def refresh_telemetry_daily(lake: Lake, since: str | None = None, until: str | None = None) -> int:
    """Materialise ``telemetry_daily`` for UTC days from ``since`` to ``until`` (ISO dates, inclusive; default all
    days before / after).

    Days whose figures did not change are skipped by the writer; changed days replace the
    old rows.  Returns the number of rows written.
    """
    start = pd.Timestamp(since).to_pydatetime() if since else datetime(1, 1, 1)
    end = (pd.Timestamp(until) + pd.Timedelta(days=1)).to_pydatetime() if until else datetime(9999, 1, 1)
    daily = lake.query(
        "SELECT device_id, metric, CAST(date_trunc('day', ts) AS DATE) AS day, count(*) AS n, sum(value) AS total, "
        "avg(value) AS mean, min(value) AS minimum, max(value) AS maximum, "
        f"avg(CASE WHEN qc = {_GOOD_QC} THEN 1.0 ELSE 0.0 END) AS good_share, max(ts) AS last_ts "
        f"FROM {lake.relation('telemetry')} WHERE ts >= ? AND ts < ? GROUP BY ALL", [start, end]
    )
    return lake.service_append(SERVICE, "telemetry_daily", daily, source="views/telemetry_daily").inserted
