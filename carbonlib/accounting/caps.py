"""Emission cap checks (clause 6.2.2): year-end projection, overrun alerts, offsets with credits.

Reads the materialised monthly ``emissions_total`` of table ``account`` (so figures are the
ones reports show, and can be pinned to a snapshot), the ``cap`` table and the credit
registry (``credit_event``).

* **Year-to-date** (YTD): the months of the year that ended on or before ``as_of`` and have
  an account figure (default ``as_of``: the last month with a figure, i.e. data through).
* **Projection** (:func:`project_year_end`): YTD divided by the share the same months had in
  the previous year's emissions (seasonal share), when the previous year has all twelve
  monthly figures and a positive share; otherwise YTD scaled by days (days in the year /
  days covered).  A complete year projects to its actual total.
* **Offsets** (:func:`assess_cap`): credits the registry retired for compliance with the org's
  cap of the year (purpose ``compliance``, the org as beneficiary, that cap year; see
  :mod:`carbonlib.registry.service`) may cover the shortfall up to ``offset_limit``
  (default 5 %) of the verified, here projected, emissions: "重点排放单位每年可以使用国家核证自愿
  减排量抵销碳排放配额的清缴，抵销比例不得超过应清缴碳排放配额的5%" (MEE, 碳排放权交易管理办法
  （试行）2020, Article 29).  What the limit or the credits do not cover is the deficit: the
  allowances still to buy.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from .accounts import METHOD_VERSION, SOURCE_ITEMS
from ..lake import Lake
from ..lake.sql import marks

DEFAULT_OFFSET_LIMIT = 0.05


@dataclass(frozen=True)
class Projection:
    """Year-end projection: emissions (tCO2e), months used, method and the share or day factor."""

    emissions_ytd: float
    projected: float
    months: int
    method: str  # "actual", "seasonal share of <year-1>" or "days"
    factor: float  # share of the year covered by the YTD months (seasonal or by days)


@dataclass(frozen=True)
class CapStatus:
    """Cap position of one org and year (all quantities tCO2e).

    shortfall = max(0, projected - cap); offset_allowed = offset_limit x projected;
    offset_used = min(shortfall, offset_allowed, credits_retired); deficit = shortfall - offset_used.
    """

    org_id: str
    year: int
    as_of: date
    cap: float
    emissions_ytd: float
    projected: float
    projection_method: str
    complete: bool
    shortfall: float
    offset_limit: float
    offset_allowed: float
    credits_retired: float
    offset_used: float
    deficit: float
    alert: bool
    message: str
    snapshot_id: int


def project_year_end(ytd_monthly: pd.Series, year: int, previous_monthly: pd.Series | None = None) -> Projection:
    """Project annual emissions from monthly figures of the months 1..m of ``year``.

    Parameters
    ----------
    ytd_monthly : Series
        tCO2e per month number (1..m, consecutive from January; missing months count as 0).
    year : int
        The year projected (for its number of days).
    previous_monthly : Series or None
        tCO2e per month number of the previous year; used only when all twelve are present.

    Returns
    -------
    Projection
        projected = YTD / share, share = sum(previous months 1..m) / sum(previous year), or
        projected = YTD x days(year) / days(months 1..m) without usable history.
    """
    months = int(ytd_monthly.index.max()) if len(ytd_monthly) else 0
    ytd = float(ytd_monthly.sum())
    if months == 12:
        return Projection(ytd, ytd, 12, "actual", 1.0)
    if months == 0:
        raise ValueError(f"no monthly emissions of {year} up to the cut-off date: nothing to project from")
    if previous_monthly is not None and set(previous_monthly.index) >= set(range(1, 13)):
        total = float(previous_monthly.sum())
        share = float(previous_monthly.loc[1:months].sum()) / total if total > 0 else 0.0
        if share > 0:
            return Projection(ytd, ytd / share, months, f"seasonal share of {year - 1}", share)
    covered = sum(calendar.monthrange(year, m)[1] for m in range(1, months + 1))
    share = covered / (366 if calendar.isleap(year) else 365)
    return Projection(ytd, ytd / share, months, "days", share)


def assess_cap(cap: float, projection: Projection, credits_retired: float,
               offset_limit: float = DEFAULT_OFFSET_LIMIT) -> dict[str, float]:
    """Shortfall, offsets and deficit of a projected year against ``cap`` (all tCO2e).

    Returns shortfall, offset_allowed (``offset_limit`` x projected emissions), offset_used
    (the smallest of shortfall, offset_allowed and credits_retired) and deficit.
    """
    if not 0.0 <= offset_limit <= 1.0:
        raise ValueError(f"offset_limit is a share in [0, 1] (0.05 for 5 %), got {offset_limit!r}")
    shortfall = max(0.0, projection.projected - cap)
    allowed = offset_limit * projection.projected
    used = min(shortfall, allowed, max(0.0, credits_retired))
    return {"shortfall": shortfall, "offset_allowed": allowed, "offset_used": used, "deficit": shortfall - used}


def _monthly(lake: Lake, org_ids: list[str], years: tuple[int, ...], snapshot: int | None
             ) -> dict[tuple[str, int], pd.Series]:
    """emissions_total (tCO2e) per month number of each org and year, for the months that have ledger-based source
    figures (one read for all of them).

    Months with only metered output or sinks (e.g. ledger entries of December not approved
    yet) are left out, so they are not mistaken for months without emissions.
    """
    items = (*SOURCE_ITEMS, "emissions_total")
    rows = lake.read("account", columns=["org_id", "period", "item", "value"], snapshot=snapshot,
                     where=f"org_id IN ({marks(org_ids)}) AND method_version = ? AND item IN ({marks(items)}) "
                           f"AND length(period) = 7 AND CAST(left(period, 4) AS INTEGER) IN ({marks(years)})",
                     params=[*org_ids, METHOD_VERSION, *items, *years])
    with_sources = set(zip(rows.org_id[rows.item != "emissions_total"], rows.period[rows.item != "emissions_total"]))
    totals = rows[rows.item == "emissions_total"]
    totals = totals[np.array([key in with_sources for key in zip(totals.org_id, totals.period)], dtype=bool)]
    return {(org, int(year)): pd.Series(group.value.to_numpy(), index=group.period.str[5:].astype(int)).sort_index()
            for (org, year), group in totals.groupby([totals.org_id, totals.period.str[:4]])}


def _credits_retired(lake: Lake, org_ids: list[str], year: int, snapshot: int | None) -> dict[str, float]:
    rows = lake.read("credit_event", columns=["beneficiary", "quantity_tco2e"], snapshot=snapshot,
                     where=f"event_type = 'retire' AND purpose = 'compliance' AND beneficiary IN ({marks(org_ids)}) "
                           "AND cap_year = ?", params=[*org_ids, year])
    return rows.groupby("beneficiary").quantity_tco2e.sum().to_dict()


def credits_retired(lake: Lake, org_id: str, year: int, snapshot: int | None = None) -> float:
    """Credits (tCO2e) retired in the registry for compliance with ``org_id``'s cap of ``year`` (purpose
    compliance, beneficiary ``org_id``, cap year ``year``), whenever they were retired."""
    return float(_credits_retired(lake, [org_id], year, snapshot).get(org_id, 0.0))


def _assess(lake: Lake, org_ids: list[str], year: int, as_of: date | None, offset_limit: float, snapshot: int
            ) -> dict[str, CapStatus | ValueError]:
    """The cap position of each of ``org_ids`` (see :func:`cap_status`), or the ValueError saying why it has none;
    a few reads for all of them."""
    if not org_ids:
        return {}
    caps = lake.read("cap", columns=["org_id", "cap_tco2e"], where=f"year = ? AND org_id IN ({marks(org_ids)})",
                     params=[year, *org_ids], snapshot=snapshot).groupby("org_id").cap_tco2e.sum()
    monthly = _monthly(lake, list(caps.index), (year, year - 1), snapshot) if len(caps) else {}
    credits = _credits_retired(lake, list(caps.index), year, snapshot) if len(caps) else {}
    out: dict[str, CapStatus | ValueError] = {}
    for org_id in org_ids:
        if org_id not in caps.index:
            out[org_id] = ValueError(f"{org_id} has no cap for {year} in table cap; fix: record its allocation, or "
                                     "pick a capped org")
            continue
        months = monthly.get((org_id, year), pd.Series(dtype=float))
        if as_of is not None:
            months = months[[date(year, m, calendar.monthrange(year, m)[1]) <= as_of for m in months.index]]
        if months.empty:
            out[org_id] = ValueError(f"no monthly accounts of {org_id} in {year} up to {as_of or 'now'}; "
                                     "fix: run `carbon accounts refresh` (or build_accounts) first")
            continue
        out[org_id] = _position(org_id, year, as_of, float(caps[org_id]), months, monthly.get((org_id, year - 1)),
                                float(credits.get(org_id, 0.0)), offset_limit, snapshot)
    return out


def _position(org_id: str, year: int, as_of: date | None, cap: float, monthly: pd.Series,
              previous: pd.Series | None, credits: float, offset_limit: float, snapshot: int) -> CapStatus:
    """The cap position from the year's monthly emissions up to ``as_of`` and the previous year's (tCO2e)."""
    through = int(monthly.index.max())
    ytd = monthly.reindex(range(1, through + 1), fill_value=0.0)
    projection = project_year_end(ytd, year, previous if previous is not None and len(previous) else None)
    figures = assess_cap(cap, projection, credits, offset_limit)
    alert = projection.projected > cap or projection.emissions_ytd > cap
    word = "actual" if projection.method == "actual" else f"projected ({projection.method})"
    if alert:
        message = (f"{org_id} {year}: {word} emissions {projection.projected:,.0f} tCO2e exceed the cap {cap:,.0f} by "
                   f"{figures['shortfall']:,.0f}; credits may offset at most {figures['offset_allowed']:,.0f} "
                   f"({offset_limit:.0%}), {credits:,.0f} retired, {figures['offset_used']:,.0f} used; "
                   f"deficit {figures['deficit']:,.0f} tCO2e" + (" to buy as allowances" if figures["deficit"] > 0 else ""))
    else:
        message = f"{org_id} {year}: {word} emissions {projection.projected:,.0f} tCO2e within the cap {cap:,.0f}"
    return CapStatus(org_id=org_id, year=year, as_of=as_of or date(year, through, calendar.monthrange(year, through)[1]),
                     cap=cap, emissions_ytd=projection.emissions_ytd, projected=projection.projected,
                     projection_method=projection.method, complete=projection.method == "actual",
                     offset_limit=offset_limit, credits_retired=credits, alert=alert, message=message,
                     snapshot_id=snapshot, **figures)


def cap_status(lake: Lake, org_id: str, year: int, *, as_of: date | None = None,
               offset_limit: float = DEFAULT_OFFSET_LIMIT, snapshot: int | None = None) -> CapStatus:
    """The cap position of ``org_id`` in ``year`` as of ``as_of`` (see module doc for the rules).

    Raises ValueError when the org has no cap for the year, or no monthly accounts up to ``as_of``.
    """
    snapshot = lake.snapshot_id() if snapshot is None else snapshot
    found = _assess(lake, [org_id], year, as_of, offset_limit, snapshot)[org_id]
    if isinstance(found, ValueError):
        raise found
    return found


def cap_statuses(lake: Lake, org_ids: list[str], year: int, *, as_of: date | None = None,
                 offset_limit: float = DEFAULT_OFFSET_LIMIT, snapshot: int | None = None) -> dict[str, CapStatus]:
    """:func:`cap_status` of each of ``org_ids`` that has a cap and monthly accounts up to ``as_of`` (the others are
    left out), read together: a report of a region assesses every capped org below it."""
    snapshot = lake.snapshot_id() if snapshot is None else snapshot
    return {org: found for org, found in _assess(lake, list(dict.fromkeys(org_ids)), year, as_of, offset_limit,
                                                 snapshot).items() if isinstance(found, CapStatus)}


def cap_report(lake: Lake, year: int, *, as_of: date | None = None, offset_limit: float = DEFAULT_OFFSET_LIMIT,
               snapshot: int | None = None) -> pd.DataFrame:
    """:func:`cap_status` of every capped org of ``year``, one row each (alerts first)."""
    snapshot = lake.snapshot_id() if snapshot is None else snapshot
    orgs = lake.read("cap", columns=["org_id"], where="year = ?", params=[year], snapshot=snapshot).org_id
    if orgs.empty:
        years = sorted(lake.read("cap", columns=["year"], snapshot=snapshot).year.unique())
        raise ValueError(f"no org has a cap for {year} (table cap holds the years {', '.join(map(str, years)) or 'none'}); "
                         "fix: pick one of those years, or record the year's allocation")
    assessed = _assess(lake, list(dict.fromkeys(orgs)), year, as_of, offset_limit, snapshot)
    for found in assessed.values():
        if isinstance(found, ValueError):
            raise found
    rows = [found.__dict__ for found in assessed.values()]
    return pd.DataFrame(rows).sort_values(["alert", "org_id"], ascending=[False, True], ignore_index=True)


def regional_utilisation(rows: pd.DataFrame, tree: pd.DataFrame) -> pd.DataFrame:
    """Cap utilisation of every node above capped orgs: Σ emissions_total / Σ cap over the capped orgs below it.

    ``rows``: account rows (org_id, period, item, value, ...) with the ``cap_utilisation`` and
    ``emissions_total`` of the capped orgs; ``tree``: :func:`carbonlib.accounting.views.org_tree`.
    A region's own ``emissions_total`` includes uncapped enterprises, so ``cap_utilisation`` of
    the accounts (emissions_total / cap of the same org) exists for capped orgs only; this is
    the share of their summed caps that the capped orgs below a region have used (the
    clause 6.2.2 view of a supervisor).  Returns rows shaped like ``rows`` (item
    ``cap_utilisation``, unit ``share``) for the ancestors that are not capped themselves.
    """
    capped = rows[rows.item == "cap_utilisation"][["org_id", "period"]]
    if capped.empty:
        return rows.iloc[:0]
    figures = rows[rows.item.isin(["emissions_total", "cap"])].merge(capped, on=["org_id", "period"])
    wide = figures.pivot_table(index=["org_id", "period"], columns="item", values="value", aggfunc="sum").reset_index()
    paths = tree.set_index("org_id").path.str.split("/")
    wide["ancestor"] = wide.org_id.map(lambda org: paths.get(org, [org])[:-1])
    above = wide.explode("ancestor").dropna(subset=["ancestor"])
    above = above[~above.set_index(["ancestor", "period"]).index.isin(capped.set_index(["org_id", "period"]).index)]
    summed = above.groupby(["ancestor", "period"], as_index=False)[["emissions_total", "cap"]].sum()
    summed = summed[summed.cap > 0]
    template = rows[rows.item == "cap_utilisation"].drop_duplicates("period").set_index("period")
    out = pd.DataFrame({"org_id": summed.ancestor, "period": summed.period, "item": "cap_utilisation",
                        "value": summed.emissions_total / summed.cap, "unit": "share",
                        "basis": "Σ emissions_total / Σ cap of the capped orgs below (clause 6.2.2)"})
    for column in rows.columns.difference(out.columns):  # period_start, snapshot_id … as the capped orgs' rows
        out[column] = out.period.map(template[column]).to_numpy()
    return out[rows.columns].reset_index(drop=True)
