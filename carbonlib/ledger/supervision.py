"""Submission deadlines and what supervision looks at (clauses 5.1, 10.1): late and missing submissions, entries
waiting for review or for their officer, and for how long.

The deadline of a month is day :data:`DEADLINE_DAY` (configurable) of the following month (of the month after
an annual entry's year end); a submission is *late* when its first ``submitted`` step came after the deadline.
An enterprise is *expected* to report a month when it reported any entry in the twelve months before it; a month
is *missing* when its deadline has passed and the enterprise has no entry covering it.  All times UTC.
"""

from __future__ import annotations

import calendar
from datetime import date

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


def submissions(lake: Lake, today: date, *, deadline_day: int = DEADLINE_DAY) -> pd.DataFrame:
    """Every entry with: status, ``submitted_at`` (its first submission; entries without review steps count as
    submitted when entered), ``deadline``, ``late``, ``waiting_days`` (since the newest step, for entries awaiting
    a reviewer or returned to their officer; else NaN)."""
    entries = lake.query(views.activity_status_sql(lake))
    first = lake.query(f"SELECT entry_id, min(event_time) AS submitted_at FROM {lake.relation('activity_review')} "
                       "WHERE event = 'submitted' GROUP BY entry_id")
    out = entries.merge(first, on="entry_id", how="left")
    never = out.submitted_at.isna() & (out.entered_status != "draft")
    out.loc[never, "submitted_at"] = out.loc[never, "entered_at"]
    out["deadline"] = [deadline(pd.Timestamp(e).date(), deadline_day) for e in out.period_end]
    out["late"] = out.submitted_at.notna() & (pd.to_datetime(out.submitted_at).dt.date > out.deadline)
    waiting = out.status.isin(PENDING_STATUSES)
    since = pd.to_datetime(out.last_step_at.where(out.last_step_at.notna(), out.entered_at))
    out["waiting_days"] = ((pd.Timestamp(today) - since).dt.total_seconds() / 86400.0).where(waiting)
    return out.reset_index(drop=True)


def missing(lake: Lake, today: date, *, deadline_day: int = DEADLINE_DAY, months: int = 3) -> pd.DataFrame:
    """Months (of the ``months`` newest whose deadline has passed) that an enterprise reporting in the twelve
    months before has no entry for: org_id, month (first day), deadline, days_overdue."""
    entries = lake.query(f"SELECT e.org_id, e.period_start, e.period_end FROM ({views.activity_status_sql(lake)}) e "
                         f"JOIN {lake.relation('org')} o USING (org_id) WHERE o.level = 'enterprise' "
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
