"""Periodic report notebooks (services): the figures they show and the papermill batch runner.

Two halves, both used by ``notebooks/reports/*.ipynb`` and ``carbon reports run``:

*Report content* (read-only, pinned to one lake snapshot): :func:`collect` gathers what a
report shows for one org and period — the account figures with zh/en labels, the trend over
previous periods, the children of the org, cap status, data quality of the telemetry behind
the figures, and the method notes; :func:`disclosure_table` is the public subset (clauses
5.4, 10.2: source/sink totals only, no activity amounts, no evidence references).
:func:`export_tables` writes the figures as CSV (canonical, hashed) and XLSX (for regulators).

*Batch runner*: :func:`run_batch` executes a report notebook for many orgs with papermill
(bounded thread pool; every run starts its own ``python3`` kernel), renders standalone HTML
with the input cells hidden, skips runs whose outputs are up to date, isolates failures,
writes a run manifest (JSON) and records every run in the lake table ``report_run``.

Output layout: ``<out>/<kind>/<period>/<org_id>/{report.ipynb, report.html, figures.csv,
figures.xlsx, run.json}`` and ``<out>/<kind>/<period>/manifest.json``.
"""

from __future__ import annotations

import atexit
import hashlib
import html
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd

from ..accounting import accounts, factor_library, views
from ..lake import CATALOG, Lake
from ..lake.integrity import sha256_file
from ..markup import md_text
from ..paths import check_identifier, inside
from ..settings import Settings, child_environment
from ..i18n import label
from ..viz.theme import format_value as format_cell
from ..viz.theme import unit_symbol

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {
    "monthly": REPO_ROOT / "notebooks" / "reports" / "monthly_account.ipynb",
    "annual": REPO_ROOT / "notebooks" / "reports" / "annual_account.ipynb",
    "disclosure": REPO_ROOT / "notebooks" / "reports" / "disclosure.ipynb",
    "supervision": REPO_ROOT / "notebooks" / "reports" / "supervision.ipynb",
}
KERNEL = "python3"
#: Papermill engine of :func:`_run_share`'s warm kernels.
WARM_ENGINE = "carbon-warm-kernel"
#: Cell tag of a report notebook's notes for notebook readers (overview, prerequisites, summary): not in the HTML.
NOTEBOOK_ONLY = "notebook-only"
#: Owner of the run log (table ``report_run``).
SERVICE = "reporting"

#: Known account items in display order; items not listed follow alphabetically.
ITEM_ORDER = (
    "emissions_total", "removals", "net", "cap", "cap_utilisation",
    "scope1_stationary_combustion", "scope1_mobile_combustion", "scope1_process", "scope1_fugitive",
    "scope1_waste_incineration",
    "scope2_purchased_electricity", "scope2_purchased_heat", "exported_electricity", "exported_heat",
    "removals_inventory", "removals_flux", "purchased_electricity_mwh", "memo_biomass_fuel_t",
)
#: Headline figures of a report.
KPI_ITEMS = ("emissions_total", "removals", "net", "cap_utilisation")
#: The only items a public disclosure shows (clauses 5.4, 10.2): totals of sources and sinks.
DISCLOSED_ITEMS = ("emissions_total", "removals", "net")
#: Items shown on the trend and child-org charts.
BALANCE_ITEMS = ("emissions_total", "removals", "net")


# --------------------------------------------------------------------------- periods
def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a period label: 'YYYY', 'YYYYQn' or 'YYYY-MM'."""
    if re.fullmatch(r"\d{4}", period):
        return date(int(period), 1, 1), date(int(period), 12, 31)
    if m := re.fullmatch(r"(\d{4})Q([1-4])", period):
        start = pd.Timestamp(int(m[1]), 3 * int(m[2]) - 2, 1)
        return start.date(), (start + pd.offsets.QuarterEnd(0)).date()
    if m := re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", period):
        start = pd.Timestamp(int(m[1]), int(m[2]), 1)
        return start.date(), (start + pd.offsets.MonthEnd(0)).date()
    raise ValueError(f"period {period!r} is not a period label; write 'YYYY' (e.g. 2025), 'YYYYQn' or 'YYYY-MM' (e.g. 2025-10)")


#: The period labels each report kind covers (a "monthly" report of a whole year is refused).
KIND_PERIODS = {"monthly": ("YYYY-MM", r"\d{4}-\d{2}"), "annual": ("YYYY", r"\d{4}"),
                "disclosure": ("YYYY, YYYYQn or YYYY-MM", r"\d{4}(Q\d|-\d{2})?"),
                "supervision": ("YYYY-MM", r"\d{4}-\d{2}")}


def check_period(kind: str, period: str) -> None:
    """ValueError unless ``period`` is a valid label of the granularity report ``kind`` covers."""
    period_bounds(period)
    if kind in KIND_PERIODS and not re.fullmatch(KIND_PERIODS[kind][1], period):
        raise ValueError(f"{kind} reports cover a period written {KIND_PERIODS[kind][0]}, not {period!r}"
                         + ("; for a whole year run --kind annual" if kind == "monthly" and len(period) == 4 else ""))


def previous_periods(period: str, n: int) -> list[str]:
    """The ``n`` periods before ``period`` and ``period`` itself, oldest first (same granularity)."""
    period_bounds(period)
    if len(period) == 4:
        return [str(int(period) - k) for k in range(n, -1, -1)]
    freq = "Q" if "Q" in period else "M"
    current = pd.Period(period, freq=freq)
    return [str(current - k) for k in range(n, -1, -1)]


# --------------------------------------------------------------------------- formatting
def format_value(value: float, unit: str) -> str:
    """How a figure is written in report text: '448,285 tCO₂e', '87.4 %', '7,846 MWh': the number as in every table
    and dashboard (:func:`carbonlib.viz.theme.format_value`), then the unit's symbol."""
    shown = format_cell(value, unit)
    return shown if unit == "share" else f"{shown} {unit_symbol(unit)}"


def _item_rank(item: str) -> tuple[int, str]:
    return (ITEM_ORDER.index(item), "") if item in ITEM_ORDER else (len(ITEM_ORDER), item)


def labelled(figures: pd.DataFrame) -> pd.DataFrame:
    """Account figures in display order with zh/en labels (unknown items keep their key as label)."""
    out = figures.assign(label_zh=figures["item"].map(lambda i: label(i, "zh")),
                         label_en=figures["item"].map(lambda i: label(i, "en")))
    order = sorted(range(len(out)), key=lambda i: _item_rank(out["item"].iloc[i]))
    return out.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------- report content
@dataclass
class ReportData:
    """Everything one report shows, read as of ``snapshot_id``.

    ``figures``: org_id, period, item, label_zh, label_en, value, unit, basis, method_version,
    snapshot_id (the snapshot the accounts were computed from); ``trend``: period, item, value
    (tCO2e); ``children``: one row per child org with emissions_total, removals, net (tCO2e);
    ``caps``: capped enterprises of the subtree with cap_tco2e, emitted_tco2e, utilisation;
    ``quality``: per device and metric coverage and QC shares; ``rejects``: quarantined readings.
    """

    org: dict
    period: str
    snapshot_id: int
    figures: pd.DataFrame
    trend: pd.DataFrame
    children: pd.DataFrame
    caps: pd.DataFrame
    quality: pd.DataFrame
    rejects: pd.DataFrame
    notes: dict = field(default_factory=dict)

    def value(self, item: str) -> float | None:
        """The value of ``item`` in this report's figures (None when absent)."""
        hit = self.figures.loc[self.figures["item"] == item, "value"]
        return float(hit.iloc[0]) if len(hit) else None

    def name(self, lang: str) -> str:
        """The org's name in ``lang``."""
        return self.org["name_zh"] if lang == "zh" else self.org["name_en"]


#: Year trees already read, per open lake and (year, snapshot): a report asks for its tree for the org, its subtree,
#: its children, its caps and its data quality, and a pinned snapshot's tree never changes.
_TREES: "weakref.WeakKeyDictionary[Lake, dict[tuple[int, int], pd.DataFrame]]" = weakref.WeakKeyDictionary()


def period_tree(lake: Lake, period: str | None, snapshot: int | None = None) -> pd.DataFrame:
    """The org tree a report of ``period`` uses: that of its year, as the accounts roll up
    (:func:`carbonlib.accounting.accounts.year_tree`: names and parents on its last day, without orgs closed
    before it began or opened after it ended), so a report of a past year names the orgs as they were.
    ``period`` None: today's tree.  Read once per lake connection for a pinned ``snapshot``."""
    if period is None:
        return views.org_tree(lake, snapshot)
    year = period_bounds(period)[0].year
    if snapshot is None:
        return accounts.year_tree(lake, year, snapshot)
    trees = _TREES.setdefault(lake, {})
    if (year, snapshot) not in trees:
        trees[(year, snapshot)] = accounts.year_tree(lake, year, snapshot)
    return trees[(year, snapshot)].copy()


def resolve_org(lake: Lake, org_id: str, snapshot: int | None = None, period: str | None = None) -> dict:
    """The org row (with depth and path) of ``org_id`` in the tree of ``period`` (:func:`period_tree`; default
    today's); a clear error if it is not there."""
    tree = period_tree(lake, period, snapshot)
    hit = tree[tree.org_id == org_id]
    if hit.empty:
        where = (f"in the org tree of {period_bounds(period)[0].year} (closed before it, or opened after it: "
                 f"`carbon orgs history {org_id}`)" if period else "in the lake")
        raise ValueError(f"org {org_id!r} is not {where} at snapshot {snapshot}; known orgs include "
                         f"{', '.join(tree.org_id.head(8))} … (see `carbon orgs list`)")
    return hit.iloc[0].to_dict()


def subtree(lake: Lake, org_id: str, snapshot: int | None = None, period: str | None = None) -> pd.DataFrame:
    """Every org at or below ``org_id`` in the tree of ``period`` (:func:`period_tree`; default today's)."""
    tree = period_tree(lake, period, snapshot)
    return tree[tree.path.str.split("/").map(lambda p: org_id in p)].reset_index(drop=True)


def report_figures(lake: Lake, org_id: str, period: str, snapshot: int) -> pd.DataFrame:
    """Labelled account figures of ``org_id`` and ``period`` (see :class:`ReportData`).

    Raises a clear error when the accounts have not been computed for that period.
    """
    figures = accounts.account_figures(lake, org_id, period, snapshot=snapshot)
    if figures.empty:
        raise ValueError(f"no account figures for org {org_id!r}, period {period!r} at snapshot {snapshot} "
                         f"(method {accounts.METHOD_VERSION}). Fix: compute them with accounts.build_accounts "
                         "(`carbon pipelines run-job monthly_accounts`) or choose a period that has accounts.")
    cols = ["org_id", "period", "item", "label_zh", "label_en", "value", "unit", "basis", "method_version", "snapshot_id",
            "ci95_low", "ci95_high", "uncertainty"]
    return labelled(figures)[cols]


def _account_rows(lake: Lake, org_ids: list[str], periods: list[str], items: tuple[str, ...], snapshot: int) -> pd.DataFrame:
    marks = lambda xs: ", ".join("?" for _ in xs)  # noqa: E731
    return lake.read(
        "account", columns=["org_id", "period", "item", "value", "unit"],
        where=f"org_id IN ({marks(org_ids)}) AND period IN ({marks(periods)}) AND item IN ({marks(items)}) "
              "AND method_version = ?",
        params=[*org_ids, *periods, *items, accounts.METHOD_VERSION], snapshot=snapshot,
    )


def trend(lake: Lake, org_id: str, period: str, snapshot: int, n: int) -> pd.DataFrame:
    """emissions_total, removals and net (tCO2e) of ``period`` and the ``n`` before it that have accounts."""
    rows = _account_rows(lake, [org_id], previous_periods(period, n), BALANCE_ITEMS, snapshot)
    return rows[["period", "item", "value"]].sort_values(["period", "item"], ignore_index=True)


def children(lake: Lake, org: dict, period: str, snapshot: int) -> pd.DataFrame:
    """Direct children of ``org`` with name_zh, name_en, level, kind and their balance items (tCO2e)."""
    tree = period_tree(lake, period, snapshot)
    kids = tree[tree.parent_id == org["org_id"]][["org_id", "name_zh", "name_en", "level", "kind"]]
    if kids.empty:
        return kids.assign(**{item: pd.Series(dtype=float) for item in BALANCE_ITEMS})
    rows = _account_rows(lake, list(kids.org_id), [period], BALANCE_ITEMS, snapshot)
    wide = rows.pivot_table(index="org_id", columns="item", values="value", aggfunc="sum")
    wide = wide.reindex(columns=list(BALANCE_ITEMS)).fillna(0.0).reset_index()
    return kids.merge(wide, on="org_id", how="left").fillna({i: 0.0 for i in BALANCE_ITEMS}).reset_index(drop=True)


def cap_status(lake: Lake, org_id: str, period: str, snapshot: int) -> pd.DataFrame:
    """Capped enterprises at or below ``org_id``: cap, emissions so far and the projected year end (tCO2e).

    ``emitted_tco2e`` and ``utilisation`` are actual: the year's emissions for an annual
    period, the year to date (January up to the month) for a month.  ``projected_tco2e`` and
    ``projected_utilisation`` are the year-end projection of :func:`carbonlib.accounting.caps.cap_status`
    as of the period's end (equal to the actual once the year is complete), the figure
    ``carbon accounts caps`` shows.  ``status``: ``over`` (actual emissions exceed the cap),
    ``projected_over`` (within so far, the projection exceeds it) or ``within``.
    Columns: org_id, name_zh, name_en, cap_tco2e, emitted_tco2e, utilisation, projected_tco2e,
    projected_utilisation, projection_method, status, over_cap (actual or projected over).
    """
    from ..accounting import caps as cap_rules

    start, end = period_bounds(period)
    year = str(start.year)
    orgs = subtree(lake, org_id, snapshot, period)
    caps = _account_rows(lake, list(orgs.org_id), [year], ("cap_utilisation", "cap"), snapshot)
    capped = caps[caps.item == "cap_utilisation"].org_id
    caps = caps[(caps.item == "cap") & caps.org_id.isin(capped)][["org_id", "value"]].rename(columns={"value": "cap_tco2e"})
    columns = ["org_id", "name_zh", "name_en", "cap_tco2e", "emitted_tco2e", "utilisation", "projected_tco2e",
               "projected_utilisation", "projection_method", "status", "over_cap"]
    if caps.empty:
        return pd.DataFrame(columns=columns)
    if period == year:
        periods = [year]
    else:
        periods = [f"{year}-{m:02d}" for m in range(1, end.month + 1)]
    emitted = _account_rows(lake, list(caps.org_id), periods, ("emissions_total",), snapshot)
    emitted = emitted.groupby("org_id", as_index=False)["value"].sum().rename(columns={"value": "emitted_tco2e"})
    out = caps.merge(emitted, on="org_id", how="left").fillna({"emitted_tco2e": 0.0})
    out = out.merge(orgs[["org_id", "name_zh", "name_en"]], on="org_id")
    out["utilisation"] = out.emitted_tco2e / out.cap_tco2e
    # an org without monthly accounts yet has nothing to project from
    statuses = cap_rules.cap_statuses(lake, list(out.org_id), start.year, as_of=end, snapshot=snapshot)
    out["projected_tco2e"] = [statuses[o].projected if o in statuses else float("nan") for o in out.org_id]
    out["projection_method"] = [statuses[o].projection_method if o in statuses else "none" for o in out.org_id]
    out["projected_utilisation"] = out.projected_tco2e / out.cap_tco2e
    actual_over = out.utilisation > 1.0
    projected_over = out.projected_utilisation > 1.0
    out["status"] = ["over" if a else "projected_over" if p else "within" for a, p in zip(actual_over, projected_over)]
    out["over_cap"] = actual_over | projected_over
    return out[columns].sort_values("utilisation", ascending=False, ignore_index=True)


def data_quality(lake: Lake, org_id: str, period: str, snapshot: int) -> pd.DataFrame:
    """Coverage of the telemetry behind ``org_id``'s figures in ``period``, from ``telemetry_daily``.

    One row per device and metric of the subtree: days_with_data, days (in the period since
    the device was installed), readings, expected (days x 86 400 s / interval_s), coverage
    (readings / expected, share), missing_share (1 - coverage: what gap filling has to fill),
    good_share and flagged_share (QC suspect or bad, shares of the readings received).
    """
    start, end = period_bounds(period)
    ids = list(subtree(lake, org_id, snapshot, period).org_id)
    df = lake.query(
        f"SELECT d.device_id, d.org_id, t.metric, d.interval_s, greatest(d.installed_on, $start) AS first_day, "
        f"count(t.day) AS days_with_data, coalesce(sum(t.n), 0) AS readings, "
        f"coalesce(sum(t.n * t.good_share) / nullif(sum(t.n), 0), 0) AS good_share "
        f"FROM {lake.relation('device', snapshot)} AS d JOIN {lake.relation('telemetry_daily', snapshot)} AS t "
        f"ON t.device_id = d.device_id AND t.day BETWEEN $start AND $end "
        f"WHERE list_contains($ids, d.org_id) AND d.installed_on <= $end GROUP BY ALL ORDER BY d.device_id, t.metric",
        {"start": start, "end": end, "ids": ids},
    )
    df["days"] = (pd.Timestamp(end) - pd.to_datetime(df.first_day)).dt.days + 1
    df["expected"] = df.days * 86400 // df.interval_s
    df["coverage"] = (df.readings / df.expected).clip(upper=1.0)
    df["missing_share"] = 1.0 - df.coverage
    df["flagged_share"] = 1.0 - df.good_share
    return df[["device_id", "org_id", "metric", "days_with_data", "days", "readings", "expected", "coverage",
               "missing_share", "good_share", "flagged_share"]]


def rejected_records(lake: Lake, org_id: str, period: str, snapshot: int) -> pd.DataFrame:
    """Quarantined readings (``telemetry_reject``) of the subtree's devices with a timestamp in ``period``."""
    start, end = period_bounds(period)
    ids = list(subtree(lake, org_id, snapshot, period).org_id)
    return lake.query(
        "WITH r AS (SELECT received_at, source, field, reason, "
        "CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.device_id') END AS device_id, "
        "CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.metric') END AS metric, "
        "CASE WHEN json_valid(payload) THEN TRY_CAST(json_extract_string(payload, '$.ts') AS TIMESTAMP) END AS ts "
        f"FROM {lake.relation('telemetry_reject', snapshot)}) "
        f"SELECT r.device_id, r.metric, r.ts, r.field, r.reason, r.source, r.received_at FROM r "
        f"JOIN {lake.relation('device', snapshot)} AS d USING (device_id) "
        "WHERE list_contains($ids, d.org_id) AND r.ts >= CAST($start AS TIMESTAMP) "
        "AND r.ts < CAST($end AS TIMESTAMP) + INTERVAL 1 DAY ORDER BY r.ts, r.device_id",
        {"start": start, "end": end, "ids": ids},
    )


def quality_summary(quality: pd.DataFrame, rejects: pd.DataFrame) -> dict[str, float]:
    """Reading-weighted totals of :func:`data_quality`: coverage, missing, flagged shares and rejected count."""
    expected, readings = float(quality.expected.sum()), float(quality.readings.sum())
    return {
        "series": len(quality),
        "coverage": readings / expected if expected else float("nan"),
        "missing_share": 1 - readings / expected if expected else float("nan"),
        "flagged_share": float((quality.readings * quality.flagged_share).sum() / readings) if readings else float("nan"),
        "rejected": len(rejects),
    }


def data_snapshot(lake: Lake) -> int:
    """The latest snapshot that changed data, ignoring commits that only recorded report runs.

    Reports are pinned to this snapshot, so recording runs in ``report_run`` does not make
    the reports it just wrote look out of date.
    """
    ids = lake.query(f"SELECT table_id FROM ducklake_table_info('{CATALOG}') WHERE table_name = 'report_run'").table_id
    report_run = {str(i) for i in ids}
    for row in lake.snapshots().sort_values("snapshot_id", ascending=False).itertuples():
        touched = {str(t) for tables in (row.changes or {}).values() for t in (tables or [])}
        if not touched or not touched <= report_run:
            return int(row.snapshot_id)
    return lake.snapshot_id()


def pinned(lake: Lake, snapshot: int | None) -> int:
    """The snapshot a report reads: ``snapshot`` itself, or the latest data snapshot when None."""
    return data_snapshot(lake) if snapshot is None else int(snapshot)


def collect(lake: Lake, org_id: str, period: str, snapshot: int | None = None, *, trend_periods: int = 11) -> ReportData:
    """Everything a monthly or annual report shows for ``org_id`` and ``period`` at ``snapshot`` (None = latest data)."""
    snapshot = pinned(lake, snapshot)
    org = resolve_org(lake, org_id, snapshot, period)
    figures = report_figures(lake, org_id, period, snapshot)
    quality = data_quality(lake, org_id, period, snapshot)
    rejects = rejected_records(lake, org_id, period, snapshot)
    notes = {
        "method_version": accounts.METHOD_VERSION,
        "accounts_snapshot": sorted(int(s) for s in figures.snapshot_id.unique()),
        "report_snapshot": snapshot,
        "bases": sorted({b.strip() for basis in figures.basis.dropna() for b in basis.split(";")
                         if b.strip() and not b.strip().startswith(factor_library.BASIS_PREFIX)}),
        "factors": factor_library.rows_named(lake, figures.basis, snapshot),
    }
    return ReportData(org, period, snapshot, figures, trend(lake, org_id, period, snapshot, trend_periods),
                      children(lake, org, period, snapshot), cap_status(lake, org_id, period, snapshot),
                      quality, rejects, notes)


def disclosure_table(lake: Lake, org_id: str, period: str, snapshot: int | None = None) -> pd.DataFrame:
    """Public source/sink totals (clauses 5.4, 10.2) of ``org_id`` and every org below it.

    Only :data:`DISCLOSED_ITEMS` (tCO2e) — no activity amounts, no evidence references, no
    category detail.  Columns: org_id, name_zh, name_en, level, kind, depth, emissions_total,
    removals, net; regions first (the org itself on top), then enterprises and sites.
    """
    snapshot = pinned(lake, snapshot)
    resolve_org(lake, org_id, snapshot, period)
    orgs = subtree(lake, org_id, snapshot, period)
    rows = _account_rows(lake, list(orgs.org_id), [period], DISCLOSED_ITEMS, snapshot)
    if rows.empty:
        raise ValueError(f"no account figures for period {period!r} below org {org_id!r} at snapshot {snapshot}. "
                         "Fix: compute the accounts first (accounts.build_accounts) or choose another period.")
    wide = rows.pivot_table(index="org_id", columns="item", values="value", aggfunc="sum")
    wide = wide.reindex(columns=list(DISCLOSED_ITEMS)).fillna(0.0).reset_index()
    out = orgs[["org_id", "name_zh", "name_en", "level", "kind", "depth", "path"]].merge(wide, on="org_id", how="left")
    out = out.fillna({i: 0.0 for i in DISCLOSED_ITEMS})
    out["is_region"] = out.level.isin(["province", "city", "county"])
    out = out.sort_values(["is_region", "path"], ascending=[False, True], ignore_index=True)
    return out[["org_id", "name_zh", "name_en", "level", "kind", "depth", *DISCLOSED_ITEMS]]


def disclosure_figures(table: pd.DataFrame, period: str, snapshot: int) -> pd.DataFrame:
    """The disclosure table in long format (org_id, period, item, label_zh, label_en, value, unit, snapshot_id)."""
    long = table.melt(id_vars=["org_id"], value_vars=list(DISCLOSED_ITEMS), var_name="item", value_name="value")
    long = long.assign(period=period, unit="tCO2e", snapshot_id=snapshot)
    order = {o: i for i, o in enumerate(table.org_id)}
    long = long.sort_values(["org_id", "item"], key=lambda s: s.map(order) if s.name == "org_id" else s.map(_item_rank))
    return labelled(long.reset_index(drop=True)).sort_values(
        "org_id", key=lambda s: s.map(order), kind="stable", ignore_index=True
    )[["org_id", "period", "item", "label_zh", "label_en", "value", "unit", "snapshot_id"]]


# --------------------------------------------------------------------------- display helpers
def text(key: str, lang: str) -> str:
    """A report phrase in ``lang``: ``report_<key>`` of :mod:`carbonlib.i18n`, else the shared name (account items)."""
    return label(key, lang, "report")


def period_label(period: str, lang: str) -> str:
    """A period label for people: '2025年10月' / 'October 2025', '2025年' / 'Year 2025', '2025年第4季度' / 'Q4 2025'."""
    start, _ = period_bounds(period)
    if len(period) == 4:
        return f"{period}年" if lang == "zh" else f"Year {period}"
    if "Q" in period:
        quarter = period[-1]
        return f"{start.year}年第{quarter}季度" if lang == "zh" else f"Q{quarter} {start.year}"
    return f"{start.year}年{start.month}月" if lang == "zh" else f"{start:%B %Y}"


def cover(kind: str, name: str, org_id: str, period: str, snapshot: int, lang: str, *, prepared_by: str | None,
          figures_sha256: str) -> str:
    """Markdown opening of a report: title, organisation and period, then issue date, preparer, reviewer (awaiting
    review until :func:`carbonlib.reporting.review.review_report` signs it), lake snapshot, method version and
    the SHA-256 of the figures table (``figures.csv``: a re-run with the same figures gives
    the same checksum)."""
    title = text(f"title_{kind}", lang)
    facts = [("issue_date", datetime.now(timezone.utc).strftime("%Y-%m-%d")),
             ("prepared_by", md_text(prepared_by) if prepared_by else text("not_named", lang)),
             ("reviewed_by", text("not_reviewed", lang)),
             ("snapshot", str(snapshot)), ("method", f"`{accounts.METHOD_VERSION}`"),
             ("checksum", f"`{figures_sha256}`")]
    lines = "\n".join(f"- {text(key, lang)}: {value}" for key, value in facts)
    return f"# {title}\n\n## {md_text(name)} ({md_text(org_id)}) · {period_label(period, lang)}\n\n{lines}"


def section(key: str, lang: str):
    """A report section's heading and one line on what it shows, in ``lang`` (an IPython Markdown object)."""
    from IPython.display import Markdown

    heading, line = text(f"section_{key}", lang), text(f"section_{key}_line", lang)
    if heading == f"section_{key}":
        raise ValueError(f"no report section {key!r} in carbonlib.i18n (keys report_section_<key>)")
    return Markdown(f"## {heading}\n\n{line}" if line else f"## {heading}")


def _figures_csv(figures: pd.DataFrame) -> bytes:
    """The canonical bytes of a figures table (UTF-8 CSV, shortest round-trip floats, no index)."""
    return figures.to_csv(index=False, lineterminator="\n").encode()


def figures_sha256(figures: pd.DataFrame) -> str:
    """SHA-256 of the figures table exactly as :func:`export_tables` writes it to ``figures.csv``."""
    return hashlib.sha256(_figures_csv(figures)).hexdigest()


def headline(values: dict[str, tuple[float, str]], lang: str) -> str:
    """Markdown table of the headline figures, one column per figure (``item -> (value, unit)``)."""
    head = "| " + " | ".join(label(i, lang) for i in values) + " |"
    rule = "|" + "---:|" * len(values)
    row = "| " + " | ".join(f"**{format_value(v, u)}**" for v, u in values.values()) + " |"
    return f"{head}\n{rule}\n{row}"


def pending_note(figures: pd.DataFrame, lang: str) -> str:
    """Markdown warning that the period is pending (ledger entries await review, ``pending_entry_months`` > 0),
    or '' when its figures are final."""
    pending = figures.loc[figures.item == "pending_entry_months", "value"].sum()
    if pending <= 0:
        return ""
    return f"\n\n> **{text('pending_title', lang)}**: {text('pending_line', lang).format(n=f'{pending:,.0f}')}"


def kpis(data: ReportData) -> dict[str, tuple[float, str]]:
    """The :data:`KPI_ITEMS` present in the report's figures: item -> (value, unit)."""
    figures = data.figures.set_index("item")
    return {i: (float(figures.at[i, "value"]), figures.at[i, "unit"]) for i in KPI_ITEMS if i in figures.index}


#: Table columns of free text that may wrap; every other cell keeps to one line (numbers, names, statuses).
WRAPPED_COLUMNS = ("basis", "reason", "comment", "found")


def report_table(frame: pd.DataFrame, columns: dict[str, str | None], lang: str):
    """A table as a report shows it: human headers in ``lang``, no index, numbers formatted by unit.

    ``columns``: column -> unit (``tCO2e``, ``share`` or ``count``; None for text).  Headers are
    report phrases (:func:`text`), which fall back to account item names (:func:`label`); a
    tCO2e column says its unit once, in the header, and its cells are whole tonnes.  Cells stay
    on one line except in :data:`WRAPPED_COLUMNS`.
    """
    out = pd.DataFrame(index=frame.index)
    for column, unit in columns.items():
        values = frame[column]
        header = text("name" if column in ("name_zh", "name_en") else column, lang)
        if unit is None:
            shown = values.map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
        elif unit == "count":
            shown = values.map(lambda v: f"{int(v):,}")
        else:
            shown = values.map(lambda v, u=unit: format_cell(None if pd.isna(v) else float(v), u))
            header += f" ({unit_symbol(unit)})" if unit == "tCO2e" else ""
        out[header] = shown
    short = [header for header, column in zip(out.columns, columns) if column not in WRAPPED_COLUMNS]
    return out.style.format(escape="html").hide(axis="index").set_properties(subset=short, **{"white-space": "nowrap"})


def children_view(table: pd.DataFrame, lang: str):
    """The child organisations' balance (tCO2e) as a report table."""
    name = "name_zh" if lang == "zh" else "name_en"
    shown = table.assign(level=table["level"].map(lambda v: label(v, lang)))
    return report_table(shown, {name: None, "org_id": None, "level": None, **{i: "tCO2e" for i in BALANCE_ITEMS}}, lang)


def caps_view(table: pd.DataFrame, lang: str):
    """Cap status as a report table: actual to date and projected year end, told apart."""
    name = "name_zh" if lang == "zh" else "name_en"
    shown = table.assign(status=table["status"].map(lambda v: text(v, lang)))
    return report_table(shown, {name: None, "org_id": None, "cap_tco2e": "tCO2e", "emitted_tco2e": "tCO2e",
                          "utilisation": "share", "projected_tco2e": "tCO2e", "projected_utilisation": "share",
                          "status": None}, lang)


def quality_view(quality: pd.DataFrame, lang: str, rows: int = 10):
    """The ``rows`` telemetry series with the lowest coverage as a report table."""
    worst = quality.sort_values("coverage").head(rows)
    return report_table(worst, {"device_id": None, "metric": None, "days_with_data": "count", "readings": "count",
                          "expected": "count", "coverage": "share", "flagged_share": "share"}, lang)


def rejects_summary(rejects: pd.DataFrame, lang: str):
    """Rejected readings counted by device, field and reason (the full list is the report's appendix)."""
    if rejects.empty:
        return pd.DataFrame({text("rejected", lang): [text("none", lang)]}).style.hide(axis="index")
    counts = (rejects.fillna({"device_id": "?", "field": "", "reason": ""})
              .groupby(["device_id", "field", "reason"], as_index=False).size().rename(columns={"size": "count"})
              .sort_values("count", ascending=False, ignore_index=True))
    return report_table(counts, {"device_id": None, "field": None, "reason": None, "count": "count"}, lang)


def rejects_view(rejects: pd.DataFrame, lang: str):
    """Every rejected reading of the period (appendix)."""
    shown = rejects.assign(ts=rejects["ts"].map(lambda v: "" if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")))
    return report_table(shown, {"ts": None, "device_id": None, "metric": None, "field": None, "reason": None}, lang)


def figures_view(figures: pd.DataFrame, lang: str):
    """The figures as shown on the page (a Styler without the index): label in ``lang``, formatted value, unit,
    95 % interval ('exact' for caps and counts, or 'no estimate': the figures table of the export says why), basis."""
    out = pd.DataFrame({
        text("item", lang): figures["label_zh" if lang == "zh" else "label_en"],
        text("value", lang): [format_cell(v, u) for v, u in zip(figures["value"], figures["unit"])],
        text("unit", lang): figures["unit"].map(lambda u: "%" if u == "share" else unit_symbol(u)),
    })
    if "ci95_low" in figures:
        out[text("interval", lang)] = [
            text("no_interval", lang) if pd.isna(lo) or pd.isna(hi) else text("exact", lang) if lo == hi
            else f"{format_cell(lo, u)} – {format_cell(hi, u)}"
            for lo, hi, u in zip(figures["ci95_low"], figures["ci95_high"], figures["unit"])]
    if "basis" in figures:
        out[text("basis", lang)] = figures["basis"].fillna("")
    return out.style.hide(axis="index")


def notes_markdown(data: ReportData, lang: str) -> str:
    """Method and source notes: the removals and net rules in words, method version, snapshots, factor bases
    (clause 6.1: methods cite their sources)."""
    bases = "\n".join(f"- {md_text(b)}" for b in data.notes["bases"]) or "-"
    used = data.notes.get("factors", pd.DataFrame())
    factor_lines = "\n".join(
        f"- `{f.factor_id}`: {f.value:g} {md_text(f.unit)}; {md_text(f.source)}"
        + ("" if f.verified else f" ({text('unverified', lang)})") for f in used.itertuples()) or "-"
    return (f"- {text('removals_rule', lang)}\n"
            f"- {text('net_rule', lang)}\n"
            f"- {text('uncertainty_rule', lang)}\n"
            f"- {text('method', lang)}: `{data.notes['method_version']}`\n"
            f"- {text('snapshot', lang)}: `{data.notes['report_snapshot']}`\n"
            f"- {text('accounts_snapshot', lang)}: `{', '.join(map(str, data.notes['accounts_snapshot']))}`\n"
            f"- {text('factors_used', lang)}:\n\n{factor_lines}\n\n"
            f"- {text('bases', lang)}:\n\n{bases}")


def quality_markdown(data: ReportData, lang: str) -> str:
    """Data-quality summary line for the report (coverage, missing, flagged shares, rejected readings)."""
    q = quality_summary(data.quality, data.rejects)
    return (f"- {text('series', lang)}: {q['series']}\n"
            f"- {text('coverage', lang)}: {format_value(q['coverage'], 'share')}\n"
            f"- {text('missing', lang)}: {format_value(q['missing_share'], 'share')}\n"
            f"- {text('flagged', lang)}: {format_value(q['flagged_share'], 'share')}\n"
            f"- {text('rejected', lang)}: {q['rejected']}")


def report_tables(data: ReportData) -> dict[str, pd.DataFrame]:
    """The tables a report exports (sheet name -> table); ``figures`` first."""
    return {"figures": data.figures, "trend": data.trend, "children": data.children, "caps": data.caps,
            "data_quality": data.quality, "rejected": data.rejects,
            "factors": data.notes.get("factors", pd.DataFrame(columns=["factor_id", "value", "unit", "source"]))}


# --------------------------------------------------------------------------- exports

def export_tables(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> dict[str, str]:
    """Write ``tables['figures']`` as ``figures.csv`` and every table as a sheet of ``figures.xlsx``.

    The CSV (UTF-8, shortest round-trip floats) is the canonical figures table: the same
    figures give the same bytes, so its SHA-256 proves a re-run reproduced them.  The XLSX
    is the regulator's copy (its zip carries timestamps, so it is not hashed).
    Returns the two paths and the CSV's sha256, also written to ``exports.json`` for the runner.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = out / "figures.csv", out / "figures.xlsx"
    csv_path.write_bytes(_figures_csv(tables["figures"]))
    with pd.ExcelWriter(xlsx_path, engine="openpyxl") as writer:
        for name, frame in tables.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
    exported = {"table_path": str(csv_path), "xlsx_path": str(xlsx_path), "figures_sha256": sha256_file(csv_path)}
    (out / "exports.json").write_text(json.dumps(exported, indent=2))
    return exported


#: How a report looks on paper and screen: A4 pages with margins; charts shrink to the page width (no
#: scroll bars cut them); a table's first column (item or name) never breaks inside a word; no table or
#: chart split across a page break.
PRINT_CSS = ("@page {size: A4; margin: 16mm 14mm;} "
             ".jp-OutputArea-output svg, .jp-OutputArea-output img {max-width: 100%; height: auto;} "
             ".jp-RenderedHTMLCommon td:first-child, .jp-RenderedHTMLCommon th:first-child {white-space: nowrap;} "
             "@media print {.jp-OutputArea-output {overflow: visible !important;} .jp-RenderedHTMLCommon table {font-size: 7.5pt !important;} "
             "table, img, svg {break-inside: avoid;} h2 {break-after: avoid;}}")


#: One HTML exporter per thread (its compiled templates are most of a first export's time; an exporter is not
#: shared between the threads of a batch).
_EXPORTERS = threading.local()


def _html_exporter():
    """nbconvert's lab HTML exporter: input cells and notebook-only notes hidden, no CDN scripts, A4 print CSS;
    made once per thread.

    (require.js, MathJax and mermaid are left out: reports have no formulas, diagrams or widgets.)
    """
    if getattr(_EXPORTERS, "exporter", None) is None:
        _EXPORTERS.exporter = _new_html_exporter()
    return _EXPORTERS.exporter


def _new_html_exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    offline = DictLoader({"carbon_report.html.j2": (
        "{%- extends 'lab/index.html.j2' -%}"
        "{%- block html_head_js -%}{%- endblock html_head_js -%}"
        "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}"
        "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}"
        "{% block extra_css %}<style>" + PRINT_CSS + "</style>{% endblock extra_css %}"
    )})
    exporter = HTMLExporter(extra_loaders=[offline], template_file="carbon_report.html.j2", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={NOTEBOOK_ONLY}), enabled=True)
    return exporter


def document_title(nb) -> str | None:
    """The title of an executed report as plain text: the first two headings of its cover (see :func:`cover`),
    e.g. '年度碳源碳汇报告 · 湖南省 (P43) · 2025年'; None when the notebook shows no cover."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            markdown = output.get("data", {}).get("text/markdown", "")
            if markdown.startswith("# "):
                headings = [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("#")]
                # plain text again (the template escapes the title): undo md_text's backslashes and entities
                return html.unescape(re.sub(r"\\(.)", r"\1", " · ".join(headings[:2])))
    return None


def export_html(notebook_path: Path, html_path: Path) -> Path:
    """Standalone HTML of an executed notebook, input cells hidden, charts' JS inline (works offline), titled
    by its cover (:func:`document_title`: the browser tab, and the PDF's Title metadata)."""
    import nbformat

    nb = nbformat.read(notebook_path, as_version=4)
    nb.metadata["title"] = document_title(nb) or Path(notebook_path).stem
    body, _ = _html_exporter().from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def pdf_converter() -> str | None:
    """Path of a headless Chromium able to print the HTML to PDF, or None when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


def export_pdf(html_path: Path, pdf_path: Path, chromium: str) -> Path:
    """Print the standalone HTML to PDF with headless Chromium (charts rendered by their inline JS)."""
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                    f"--print-to-pdf={pdf_path}", "--no-pdf-header-footer", html_path.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    return pdf_path


# --------------------------------------------------------------------------- batch runner
@dataclass
class RunRecord:
    """One report run (a row of ``report_run`` plus the extra outputs, checksums, preparer and reviewer of the
    manifest and of the run's ``run.json``)."""

    run_id: str
    kind: str
    org_id: str
    period: str
    snapshot_id: int
    status: str
    started_at: str
    seconds: float
    source_sha256: str
    notebook_path: str | None = None
    html_path: str | None = None
    table_path: str | None = None
    xlsx_path: str | None = None
    pdf_path: str | None = None
    figures_sha256: str | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    #: who ran it (display name on the cover, account) and who reviewed it (see :mod:`.review`)
    prepared_by: str | None = None
    preparer: str | None = None
    reviewed_by: str | None = None
    reviewer: str | None = None
    reviewed_at: str | None = None
    review_comment: str | None = None


@dataclass
class BatchResult:
    """What :func:`run_batch` did: the manifest path and one record per org."""

    manifest_path: Path
    records: list[RunRecord]

    @property
    def failed(self) -> list[RunRecord]:
        return [r for r in self.records if r.status == "failed"]

    def by_org(self) -> dict[str, RunRecord]:
        return {r.org_id: r for r in self.records}


def default_orgs(lake: Lake, kind: str, snapshot: int, period: str | None = None) -> list[str]:
    """Every org of ``period``'s tree (:func:`period_tree`; default today's) for monthly/annual reports;
    enterprises and regions (not sites) for disclosure; enterprises for supervision (one inspection report per
    enterprise, clause 10.1)."""
    return _of_kind(period_tree(lake, period, snapshot), kind)


def _of_kind(tree: pd.DataFrame, kind: str) -> list[str]:
    """The orgs of ``tree`` that ``kind`` reports on by default (see :func:`default_orgs`)."""
    if kind == "disclosure":
        tree = tree[tree.level != "site"]
    if kind == "supervision":
        tree = tree[tree.level == "enterprise"]
    return list(tree.org_id)


def source_sha256(notebook: Path, lang: str) -> str:
    """Identity of a report's source: the notebook's bytes and the language it renders in."""
    return hashlib.sha256(notebook.read_bytes() + f"\nlang={lang}".encode()).hexdigest()


def _run_id(kind: str, period: str, org_id: str, started: datetime) -> str:
    """``kind:period:org:stamp``, an identifier (the org id is one; kind and period are checked)."""
    return f"{kind}:{period}:{org_id}:{started:%Y%m%dT%H%M%S%f}"


#: The file in a run's folder that records the run (:class:`RunRecord` as JSON).
RUN_FILE = "run.json"


def read_run(run_dir: Path) -> RunRecord | None:
    """The run recorded in ``run_dir`` (None when the folder holds no run)."""
    sidecar = Path(run_dir) / RUN_FILE
    return RunRecord(**json.loads(sidecar.read_text())) if sidecar.is_file() else None


def write_run(run_dir: Path, record: RunRecord) -> None:
    """Record ``record`` in ``run_dir``."""
    (Path(run_dir) / RUN_FILE).write_text(json.dumps(asdict(record), indent=2))


def _up_to_date(run_dir: Path, source: str, snapshot: int) -> RunRecord | None:
    previous = read_run(run_dir)
    if previous is None:
        return None
    outputs = [previous.notebook_path, previous.html_path, previous.table_path, previous.xlsx_path]
    if (previous.status == "ok" and previous.source_sha256 == source and previous.snapshot_id == snapshot
            and all(p and Path(p).is_file() for p in outputs)):
        return previous
    return None


def _locally(settings: Settings, runs: list[dict], workers: int, chromium: str | None) -> Iterator[RunRecord]:
    """The runs on this machine: ``workers`` threads, each running its share one after another in one warm kernel
    (:func:`_run_share`)."""
    done: queue.Queue[RunRecord | BaseException] = queue.Queue()
    with (kernels_read(settings), tempfile.TemporaryDirectory(prefix="carbon-kernels-") as sockets,
          ThreadPoolExecutor(max_workers=workers) as pool):
        for i in range(workers):
            if runs[i::workers]:
                pool.submit(_run_share, runs[i::workers], chromium, sockets, f"k{i}", done)
        for _ in runs:
            outcome = done.get()
            if isinstance(outcome, BaseException):  # a share's thread broke (not a failed report: that is a record)
                raise outcome
            yield outcome


def _run_share(share: list[dict], chromium: str | None, sockets: str, name: str,
               done: "queue.Queue[RunRecord | BaseException]") -> None:
    """Run ``share`` one report after another in one kernel that stays up between them (its start and the imports
    are most of a small report's time); a run that fails gets the next one a fresh kernel.  Each record, or the
    error that broke this thread, goes into ``done``."""
    from jupyter_client.manager import KernelManager

    _register_warm_engine()
    kernel = None
    try:
        for run in share:
            kernel = kernel or KernelManager(kernel_name=KERNEL, config=kernel_config(sockets, name))
            record = _run_one(**run, chromium=chromium, sockets=sockets, kernel=kernel)
            if record.status == "failed" or not kernel.is_alive():
                _shut_down(kernel)
                kernel = None
            done.put(record)
    except BaseException as error:
        done.put(error)
    finally:
        if kernel is not None:
            _shut_down(kernel)


def _shut_down(kernel) -> None:
    if kernel.has_kernel:
        kernel.shutdown_kernel(now=True)


def _register_warm_engine() -> None:
    """Register papermill's engine :data:`WARM_ENGINE`: its nbclient engine, which also closes the client's
    channels when the notebook is done, so a kernel passed as ``km`` stays up for the next notebook (papermill
    is imported here, not by every notebook importing this module)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger

    class WarmKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                     start_timeout=60, execution_timeout=None, **kwargs):
            kwargs.pop("input_path", None)
            client = PapermillNotebookClient(nb_man, timeout=execution_timeout, startup_timeout=start_timeout,
                                             kernel_name=kernel_name, log=logger, log_output=log_output,
                                             stdout_file=stdout_file, stderr_file=stderr_file, **kwargs)
            try:
                return client.execute()
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()

    papermill_engines.register(WARM_ENGINE, WarmKernelEngine)  # registering again replaces it


def _on_cluster(cluster, settings: Settings, runs: list[dict], pdf: bool) -> Iterator[RunRecord]:
    """The runs as tasks of a Dask cluster (a ``distributed.Client`` or the scheduler's address, ``tcp://host:8786``).

    Every worker needs this carbonlib, the report notebooks at the same path, the lake (shared
    folder, or a PostgreSQL catalog with object storage) and the output folder.  A run is one
    task; when a worker dies, Dask runs its tasks again elsewhere, and a run rewrites its own
    folder from scratch, so nothing is doubled.
    """
    from distributed import Client
    from distributed import as_completed as completed

    client = cluster if isinstance(cluster, Client) else Client(cluster, timeout="30s")
    environment = child_environment(settings)
    try:
        token = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        futures = [client.submit(_run_on_worker, environment, pdf, run, pure=False,
                                 key=f"carbon-report-{run['kind']}-{run['period']}-{run['org_id']}-{token}")
                   for run in runs]
        for future in completed(futures):
            yield future.result()
    finally:
        if client is not cluster:
            client.close()


def _cluster_name(cluster) -> str | None:
    if cluster is None:
        return None
    return getattr(getattr(cluster, "scheduler", None), "address", None) or str(cluster)


@dataclass
class _WorkerKernel:
    """A warm kernel of a Dask worker's thread: its manager, its socket folder and the lake settings it started with."""

    manager: object
    sockets: str
    environment: dict[str, str]


#: The warm kernel of each thread of a Dask worker process (a worker runs its tasks on its threads): started by the
#: thread's first report, kept for its next ones as long as they read the same lake, shut down after a failed run,
#: for other settings, and when the worker exits.
_WORKER_KERNELS: dict[int, _WorkerKernel] = {}
_WORKER_KERNELS_LOCK = threading.Lock()


def _run_on_worker(environment: dict[str, str], pdf: bool, run: dict) -> RunRecord:
    """One report run on a Dask worker: the batch's lake settings in this process's environment (the kernel inherits
    them), in the thread's warm kernel (:data:`_WORKER_KERNELS`; its start and imports are most of a small report's
    time), the worker's own Chromium for a PDF."""
    os.environ.update(environment)
    _register_warm_engine()
    warm = _worker_kernel(environment)
    record = _run_one(**run, chromium=pdf_converter() if pdf else None, sockets=warm.sockets, kernel=warm.manager)
    if record.status == "failed" or not warm.manager.is_alive():
        _drop_worker_kernel(threading.get_ident())
    return record


def _worker_kernel(environment: dict[str, str]) -> _WorkerKernel:
    """This thread's warm kernel for ``environment`` (a new one when there is none or it read other settings)."""
    from jupyter_client.manager import KernelManager

    thread = threading.get_ident()
    with _WORKER_KERNELS_LOCK:
        warm = _WORKER_KERNELS.get(thread)
    if warm is not None and warm.environment == environment:
        return warm
    _drop_worker_kernel(thread)
    _remove_orphaned_sockets()
    sockets = tempfile.mkdtemp(prefix=f"{_SOCKETS_PREFIX}{os.getpid()}-")
    warm = _WorkerKernel(KernelManager(kernel_name=KERNEL, config=kernel_config(sockets, f"w{thread}")), sockets,
                         dict(environment))
    with _WORKER_KERNELS_LOCK:
        _WORKER_KERNELS[thread] = warm
    return warm


#: Folders of the warm kernels' connection files: ``<tmp>/carbon-kernels-<pid>-<random>``.
_SOCKETS_PREFIX = "carbon-kernels-"


def _remove_orphaned_sockets() -> None:
    """Remove the connection-file folders of warm kernels whose process has gone without its exit handlers (killed,
    e.g. a Dask worker or a scheduler stopped by a signal); their kernels went with it (ipykernel watches its parent)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_SOCKETS_PREFIX}*-*"):
        pid = folder.name[len(_SOCKETS_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


def _drop_worker_kernel(thread: int) -> None:
    with _WORKER_KERNELS_LOCK:
        warm = _WORKER_KERNELS.pop(thread, None)
    if warm is not None:
        _shut_down(warm.manager)
        shutil.rmtree(warm.sockets, ignore_errors=True)


@atexit.register
def _drop_worker_kernels() -> None:
    for thread in list(_WORKER_KERNELS):
        _drop_worker_kernel(thread)


@contextmanager
def kernels_read(settings: Settings) -> Iterator[None]:
    """Kernels started meanwhile read the lake of ``settings`` (catalog, data path, memory limit: the notebooks'
    ``load_settings`` finds them in ``CARBON_*``, :func:`carbonlib.settings.child_environment`)."""
    wanted = child_environment(settings)
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def kernel_config(sockets: str, name: str):
    """The kernel talks to this process over Unix sockets ``<sockets>/<name>-N`` in a private folder, not plain TCP.

    ``name`` differs per concurrent kernel: kernels sharing a prefix could pick the same sockets.
    """
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(Path(sockets) / name)
    return config


def _run_one(*, notebook: Path, kind: str, org_id: str, period: str, snapshot: int, source: str, lake_dir: str,
             lang: str, run_dir: Path, force: bool, chromium: str | None, sockets: str,
             prepared_by: str | None, preparer: str | None, kernel=None) -> RunRecord:
    """Execute one report notebook and export it; never raises for a failing notebook.  In ``kernel`` (a
    ``KernelManager``, started on first use and left running) when given, else in a kernel of its own."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    started = datetime.now(timezone.utc).replace(tzinfo=None)
    if not force and (previous := _up_to_date(run_dir, source, snapshot)):
        return RunRecord(**{**asdict(previous), "run_id": _run_id(kind, period, org_id, started),
                            "status": "skipped", "started_at": started.isoformat(), "seconds": 0.0, "error": None})
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in (RUN_FILE, "exports.json", "report.html", "figures.csv", "figures.xlsx", "report.pdf"):
        (run_dir / stale).unlink(missing_ok=True)
    record = RunRecord(_run_id(kind, period, org_id, started), kind, org_id, period, snapshot, "ok",
                       started.isoformat(), 0.0, source, notebook_path=str(run_dir / "report.ipynb"),
                       prepared_by=prepared_by, preparer=preparer)
    t0 = time.perf_counter()
    try:
        # The kernel starts in the notebook's folder (nbclient's resources path).  Not papermill's
        # ``cwd``: that changes the working folder of this whole process, and runs in parallel
        # threads restored each other's folders, leaving the batch in the notebook folder.
        own_kernel = {"config": kernel_config(sockets, org_id)} if kernel is None else {"km": kernel,
                                                                                         "engine_name": WARM_ENGINE}
        pm.execute_notebook(notebook, record.notebook_path, kernel_name=KERNEL, progress_bar=False,
                            request_save_on_cell_execute=False, resources={"metadata": {"path": str(notebook.parent)}},
                            **own_kernel,
                            # the kernel's own log (an interrupt at shutdown) is noise in a batch's output; a
                            # kernel that fails still fails the run with its error
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                            parameters=dict(org_id=org_id, period=period, lake=lake_dir, snapshot=snapshot, lang=lang,
                                            export_dir=str(run_dir), prepared_by=prepared_by))
        record.html_path = str(export_html(Path(record.notebook_path), run_dir / "report.html"))
        exported = json.loads((run_dir / "exports.json").read_text())
        record.table_path, record.xlsx_path = exported["table_path"], exported["xlsx_path"]
        record.figures_sha256 = exported["figures_sha256"]
        if chromium:
            record.pdf_path = str(export_pdf(Path(record.html_path), run_dir / "report.pdf", chromium))
    except PapermillExecutionError as error:
        record.status = "failed"
        record.error = (f"cell {error.cell_index} (In [{error.exec_count}]) of the executed notebook: "
                        f"{error.ename}: {error.evalue}")
    except Exception as error:  # kernel died, export failed: keep the batch going, report what happened
        record.status = "failed"
        record.error = f"{type(error).__name__}: {error}"
    record.seconds = round(time.perf_counter() - t0, 3)
    record.checksums = output_checksums(record)
    write_run(run_dir, record)
    return record


def output_checksums(record: RunRecord) -> dict[str, str]:
    """SHA-256 of each output of a run that exists (notebook, HTML, CSV, XLSX, PDF), by file name."""
    paths = [record.notebook_path, record.html_path, record.table_path, record.xlsx_path, record.pdf_path]
    return {Path(p).name: sha256_file(Path(p)) for p in paths if p and Path(p).is_file()}


def run_batch(
    settings: Settings,
    kind: str,
    period: str,
    *,
    orgs: list[str] | None = None,
    out_dir: str | Path = "reports",
    workers: int = 2,
    force: bool = False,
    snapshot: int | None = None,
    lang: str = "zh",
    notebook: Path | None = None,
    progress: bool = True,
    pdf: bool = False,
    prepared_by: str | None = None,
    preparer: str | None = None,
    cluster=None,
) -> BatchResult:
    """Run the ``kind`` report notebook for ``orgs`` (default :func:`default_orgs`) and ``period``.

    Every run reads the same lake snapshot (``snapshot``, default the latest data snapshot,
    :func:`data_snapshot`).  At most ``workers`` notebooks run at once, each in its own
    ``python3`` kernel.  A run is skipped when its outputs exist and were made from the same
    notebook source and snapshot (unless ``force``).  A failing notebook is kept (partial
    outputs) and recorded as failed with the failing cell's error; the others go on.
    ``notebook`` overrides the kind's notebook (same parameters).  ``prepared_by`` names the
    preparer on each report's cover and ``preparer`` is its account (the services pass the
    principal; a reviewer must be someone else, :mod:`.review`).  ``pdf`` also prints each
    HTML report to PDF with headless Chromium when one is installed.  ``cluster`` (a Dask
    scheduler's address ``tcp://host:8786`` or a ``distributed.Client``) runs the reports as tasks
    on that cluster instead (``workers`` then does not apply; see :func:`_on_cluster`).  Writes
    ``<out_dir>/<kind>/<period>/manifest.json`` and one ``report_run`` row per org.
    """
    from tqdm.auto import tqdm

    if kind not in NOTEBOOKS:
        raise ValueError(f"report kind {kind!r} is unknown; choose one of {list(NOTEBOOKS)}")
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    check_period(kind, period)
    notebook = Path(notebook or NOTEBOOKS[kind]).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"report notebook {notebook} does not exist")
    with Lake.open(settings, read_only=True) as lake:
        lake.require_intact()
        snapshot = data_snapshot(lake) if snapshot is None else int(snapshot)
        registered = set(lake.query(f"SELECT org_id FROM {lake.relation('org', snapshot)}").org_id)
        tree = period_tree(lake, period, snapshot)
        in_period = set(tree.org_id)
        selected = list(dict.fromkeys(orgs)) if orgs else _of_kind(tree, kind)
    for org in selected:  # ids name output folders: an id like ../../x must never reach a path
        check_identifier(org, "org id")
    unknown = [o for o in selected if o not in registered]
    if unknown:
        raise ValueError(f"unknown org id(s) {', '.join(unknown[:10])} at snapshot {snapshot}; "
                         "see table org (`carbon orgs list`) for the ids")
    absent = [o for o in selected if o not in in_period]
    if absent:
        raise ValueError(f"org(s) {', '.join(absent[:10])} did not exist in {period_bounds(period)[0].year} (closed "
                         "before it or opened after it: `carbon orgs history ID`); choose a period they existed in")
    batch_dir = inside(out_dir, kind, period)
    source = source_sha256(notebook, lang)
    chromium = pdf_converter() if pdf else None
    lake_dir = str(Path(settings.lake).resolve())
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    t0 = time.perf_counter()
    records: list[RunRecord] = []
    runs = [dict(notebook=notebook, kind=kind, org_id=org, period=period, snapshot=snapshot, source=source,
                 lake_dir=lake_dir, lang=lang, run_dir=inside(batch_dir, org), force=force, prepared_by=prepared_by,
                 preparer=preparer) for org in selected]
    done = _on_cluster(cluster, settings, runs, pdf) if cluster else _locally(settings, runs, workers, chromium)
    with tqdm(total=len(selected), desc=f"{kind} {period}", unit="report", disable=not progress) as bar:
        for record in done:
            records.append(record)
            bar.set_postfix(failed=sum(r.status == "failed" for r in records))
            bar.update()
    records.sort(key=lambda r: selected.index(r.org_id))
    manifest = {
        "kind": kind, "period": period, "snapshot_id": snapshot, "lake": settings.catalog_display,
        "notebook": str(notebook), "source_sha256": source, "lang": lang, "started_at": started.isoformat(),
        "seconds": round(time.perf_counter() - t0, 3), "workers": workers, "cluster": _cluster_name(cluster),
        "method_version": accounts.METHOD_VERSION,
        "pdf": (f"made with {chromium}" if chromium else "not requested" if not pdf
                else "skipped: no PDF converter (headless Chromium) on this machine"),
        "counts": {s: sum(r.status == s for r in records) for s in ("ok", "skipped", "failed")},
        "runs": [asdict(r) for r in records],
    }
    batch_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = batch_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    _record_runs(settings, records)
    return BatchResult(manifest_path, records)


def _record_runs(settings: Settings, records: list[RunRecord]) -> None:
    """Append the runs to the lake table ``report_run`` (one commit for the whole batch)."""
    columns = ["run_id", "kind", "org_id", "period", "snapshot_id", "status", "started_at", "seconds", "notebook_path",
               "html_path", "table_path", "figures_sha256", "error"]
    rows = pd.DataFrame([{c: getattr(r, c) for c in columns} for r in records], columns=columns)
    rows["started_at"] = pd.to_datetime(rows.started_at)
    with Lake.open(settings) as lake:
        lake.service_append(SERVICE, "report_run", rows, source="reports/run_batch")
