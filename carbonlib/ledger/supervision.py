"""Submission deadlines and what supervision looks at (clauses 5.1, 10.1): late and missing submissions, entries
waiting for review or for their officer, and for how long.

The deadline of a month is day :data:`DEADLINE_DAY` (configurable) of the following month (of the month after
an annual entry's year end); a submission is *late* when its first ``submitted`` step came after the deadline.
An enterprise is *expected* to report a month when it reported any entry in the twelve months before it; a month
is *missing* when its deadline has passed and the enterprise has no entry covering it.  All times UTC.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from ..accounting import views
from ..lake import Lake
from ..lake.schema import PENDING_STATUSES

#: Default day of the following month by which a month's entries are due.
DEADLINE_DAY = 15


def deadline(period_end: date, day: int = DEADLINE_DAY) -> date:
    """Day ``day`` (clamped to the month's length) of the month after the one ``period_end`` falls in."""
    if not 1 <= day <= 31:
        raise ValueError(f"deadline day {day} is not a day of a month (1-31)")
    year, month = (period_end.year + 1, 1) if period_end.month == 12 else (period_end.year, period_end.month + 1)
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def submissions(lake: Lake, today: date | datetime, *, deadline_day: int = DEADLINE_DAY,
                snapshot: int | None = None) -> pd.DataFrame:
    """Every entry (as of ``snapshot``, default latest) with: status, ``submitted_at`` (its first submission;
    entries without review steps count as submitted when entered), ``deadline``, ``late``, ``waiting_days``
    (since the newest step, for entries awaiting a reviewer or returned to their officer; else NaN)."""
    entries = lake.query(views.activity_status_sql(lake, snapshot))
    first = lake.query(f"SELECT entry_id, min(event_time) AS submitted_at FROM "
                       f"{lake.relation('activity_review', snapshot)} WHERE event = 'submitted' GROUP BY entry_id")
    out = entries.merge(first, on="entry_id", how="left")
    never = out.submitted_at.isna() & (out.entered_status != "draft")
    out.loc[never, "submitted_at"] = out.loc[never, "entered_at"]
    out["deadline"] = [deadline(pd.Timestamp(e).date(), deadline_day) for e in out.period_end]
    out["late"] = out.submitted_at.notna() & (pd.to_datetime(out.submitted_at).dt.date > out.deadline)
    waiting = out.status.isin(PENDING_STATUSES)
    since = pd.to_datetime(out.last_step_at.where(out.last_step_at.notna(), out.entered_at))
    out["waiting_days"] = ((pd.Timestamp(today) - since).dt.total_seconds() / 86400.0).where(waiting)
    return out.reset_index(drop=True)


def missing(lake: Lake, today: date, *, deadline_day: int = DEADLINE_DAY, months: int = 3,
            snapshot: int | None = None) -> pd.DataFrame:
    """Months (of the ``months`` newest whose deadline has passed) that an enterprise reporting in the twelve
    months before has no entry for (as of ``snapshot``): org_id, month (first day), deadline, days_overdue."""
    entries = lake.query(f"SELECT e.org_id, e.period_start, e.period_end FROM "
                         f"({views.activity_status_sql(lake, snapshot)}) e "
                         f"JOIN {lake.relation('org', snapshot)} o USING (org_id) WHERE o.level = 'enterprise' "
                         "AND e.status NOT IN ('rejected', 'draft') AND e.reverses_entry_id IS NULL")
    last_due = pd.Timestamp(today).to_period("M") - 1
    while deadline((last_due.to_timestamp() + pd.offsets.MonthEnd(0)).date(), deadline_day) >= today:
        last_due -= 1
    checked = [last_due - k for k in range(months)]
    rows = []
    covered = {(o, p) for o, s, e in zip(entries.org_id, entries.period_start, entries.period_end)
               for p in pd.period_range(pd.Timestamp(s), pd.Timestamp(e), freq="M")}
    for month in checked:
        window = set(pd.period_range(month - 12, month - 1, freq="M"))
        expected = {o for o, p in covered if p in window}
        for org in sorted(expected):
            if (org, month) not in covered:
                due = deadline((month.to_timestamp() + pd.offsets.MonthEnd(0)).date(), deadline_day)
                rows.append(dict(org_id=org, month=month.to_timestamp().date(), deadline=due,
                                 days_overdue=(today - due).days))
    return pd.DataFrame(rows, columns=["org_id", "month", "deadline", "days_overdue"])


@dataclass(frozen=True)
class Inspection:
    """What a supervisory inspection (clause 10.1) of an org's ledger finds for the twelve months ending with
    ``period`` (a month), as of ``as_of`` (the UTC day of the lake snapshot read, so a re-run finds the same).

    ``late``: entries first submitted after their deadline (entry_id, org_id, period_start, period_end,
    category, activity_type, submitted_at, deadline, days_late); ``pending``: entries awaiting a reviewer or
    returned to their officer (… status, waiting_days, last_step_by, comment); ``missing``: months an enterprise
    reporting before has no entry for (org_id, month, deadline, days_overdue).
    """

    org_id: str
    period: str
    as_of: date
    snapshot: int
    late: pd.DataFrame
    pending: pd.DataFrame
    missing: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """Counts per finding: late, pending (awaiting review), returned, missing months (finding, count)."""
        returned = int((self.pending.status == "returned").sum())
        return pd.DataFrame({"finding": ["late", "awaiting_review", "returned", "missing_months"],
                             "count": [len(self.late), len(self.pending) - returned, returned, len(self.missing)]})


def inspect(lake: Lake, org_id: str, period: str, snapshot: int, *, deadline_day: int = DEADLINE_DAY) -> Inspection:
    """The :class:`Inspection` of ``org_id`` and its subtree for the twelve months ending with month ``period``
    ('YYYY-MM'), read as of ``snapshot``."""
    month = pd.Period(period, freq="M")
    first, last = (month - 11).to_timestamp(), month.to_timestamp(how="end").normalize()
    times = lake.snapshots()
    at = pd.Timestamp(times.loc[times.snapshot_id == snapshot, "snapshot_time"].iloc[0])
    at = at.tz_convert("UTC").tz_localize(None) if at.tzinfo else at  # the snapshot's moment, UTC
    as_of = at.date()
    paths = views.org_paths(lake, snapshot)
    if org_id not in paths:
        raise ValueError(f"org {org_id!r} is not in the lake at snapshot {snapshot}")
    scope = {o for o, path in paths.items() if org_id in path.split("/")}
    entries = submissions(lake, at, deadline_day=deadline_day, snapshot=snapshot)  # days waited until the snapshot
    ends = pd.to_datetime(entries.period_end)
    entries = entries[entries.org_id.isin(scope) & (ends >= first) & (ends <= last)]
    entries = entries.sort_values(["org_id", "period_start", "entry_id"], ignore_index=True)
    late = entries[entries.late].assign(
        days_late=lambda x: [(pd.Timestamp(s).date() - d).days for s, d in zip(x.submitted_at, x.deadline)])
    comments = lake.query(f"SELECT entry_id, arg_max(comment, review_id) AS comment FROM "
                          f"{lake.relation('activity_review', snapshot)} GROUP BY entry_id")
    pending = entries[entries.status.isin(PENDING_STATUSES)].merge(comments, on="entry_id", how="left")
    gaps = missing(lake, as_of, deadline_day=deadline_day, months=12, snapshot=snapshot)
    months = pd.to_datetime(gaps.month)
    gaps = gaps[gaps.org_id.isin(scope) & (months >= first) & (months <= last)].reset_index(drop=True)
    columns = ["entry_id", "org_id", "period_start", "period_end", "category", "activity_type"]
    return Inspection(org_id, period, as_of, snapshot,
                      late[[*columns, "submitted_at", "deadline", "days_late"]].reset_index(drop=True),
                      pending[[*columns, "status", "waiting_days", "last_step_by", "comment"]].reset_index(drop=True),
                      gaps)
