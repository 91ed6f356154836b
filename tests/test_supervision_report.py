"""The supervision report (issue 12, item 6; clause 10.1): a real papermill run over the demo lake lists exactly
the demo's late and pending ledger entries, worked out here independently from the review steps."""

from __future__ import annotations

import calendar
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from carbonlib.lake import Lake
from carbonlib.reporting import reports

PERIOD = "2025-12"  # the twelve months 2025-01 .. 2025-12


def _due(period_end: date, day: int = 15) -> date:
    """Day 15 of the month after ``period_end`` (the ledger's default deadline, carbonlib.ledger.supervision)."""
    year, month = (period_end.year + 1, 1) if period_end.month == 12 else (period_end.year, period_end.month + 1)
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _expected(settings) -> tuple[set[str], set[str]]:
    """Late and pending entry ids of the demo with a period ending in 2025, from the lake's rows alone."""
    with Lake.open(settings, read_only=True) as lake:
        entries = lake.query("SELECT entry_id, period_end, status FROM lake.activity "
                             "WHERE period_end BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'")
        steps = lake.query("SELECT entry_id, review_id, event, event_time FROM lake.activity_review")
    first = steps[steps.event == "submitted"].groupby("entry_id").event_time.min()
    newest = steps.sort_values("review_id").groupby("entry_id").event.last()
    late, pending = set(), set()
    for e in entries.itertuples():
        submitted = first.get(e.entry_id)
        if submitted is not None and pd.Timestamp(submitted).date() > _due(pd.Timestamp(e.period_end).date()):
            late.add(e.entry_id)
        if newest.get(e.entry_id, e.status) in ("submitted", "returned"):
            pending.add(e.entry_id)
    return late, pending


def test_the_supervision_report_lists_exactly_the_demos_late_and_pending_entries(small_demo_lake, tmp_path):
    late, pending = _expected(small_demo_lake)
    assert late and pending  # the demo has both: corrections and annual entries come late, some await review

    batch = reports.run_batch(small_demo_lake, "supervision", PERIOD, orgs=["P43"], out_dir=tmp_path / "out",
                              workers=1, progress=False, lang="en")
    record = batch.records[0]
    assert record.status == "ok", record.error
    sheets = pd.read_excel(record.xlsx_path, sheet_name=None)
    assert set(sheets["late"].entry_id) == late
    assert set(sheets["pending"].entry_id) == pending
    counts = pd.read_csv(Path(record.table_path)).set_index("finding")["count"]
    returned = int((sheets["pending"].status == "returned").sum())
    assert counts["late"] == len(late) and counts["awaiting_review"] + counts["returned"] == len(pending)
    assert counts["returned"] == returned == 1  # the demo returns one entry with a comment
    html = Path(record.html_path).read_text(encoding="utf-8")
    assert "Ledger supervision report" in html and all(entry in html for entry in late | pending)
    assert "the invoice total does not match the meter reading" in html  # the reviewer's comment is shown


def test_supervision_reports_cover_a_month_and_every_enterprise(small_demo_lake):
    with pytest.raises(ValueError, match="supervision reports cover a period written YYYY-MM"):
        reports.check_period("supervision", "2025")
    with Lake.open(small_demo_lake, read_only=True) as lake:
        snapshot = lake.snapshot_id()
        orgs = reports.default_orgs(lake, "supervision", snapshot, "2025-10")
        levels = set(lake.query("SELECT level FROM lake.org WHERE org_id IN (SELECT unnest(?))", [orgs]).level)
    assert orgs and levels == {"enterprise"}
