"""The supervision report (clause 10.1): an inspection of one enterprise's (or region's) ledger for the twelve
months ending with a month, as of a lake snapshot.

It lists late submissions, entries awaiting review and for how long, entries returned to their officer,
months without any entry, cap overruns and projections, the coverage of the telemetry and the monthly reports
not produced.  ``notebooks/reports/supervision.ipynb`` shows it; ``carbon reports run --kind supervision``
runs it for every enterprise (HTML + XLSX, the findings counted in ``figures.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..i18n import label
from ..lake import Lake
from ..ledger import supervision
from . import reports

#: Findings counted in the report's figures table, in order.
FINDINGS = ("late", "awaiting_review", "returned", "missing_months", "caps_over", "reports_missing")


@dataclass(frozen=True)
class SupervisionData:
    """Everything the supervision report shows (see the module doc); ``reports_missing``: month, kind."""

    org: dict
    period: str
    snapshot_id: int
    inspection: supervision.Inspection
    caps: pd.DataFrame
    quality: dict[str, float]
    reports_missing: pd.DataFrame


def months_without_report(lake: Lake, org_id: str, period: str, snapshot: int) -> pd.DataFrame:
    """Months of the twelve ending with ``period`` that have no monthly report of ``org_id`` run with status ok
    (table ``report_run`` as of ``snapshot``): month ('YYYY-MM'), kind."""
    month = pd.Period(period, freq="M")
    wanted = [str(month - k) for k in range(11, -1, -1)]
    done = set(lake.query(f"SELECT DISTINCT period FROM {lake.relation('report_run', snapshot)} WHERE org_id = ? "
                          "AND kind = 'monthly' AND status = 'ok'", [org_id]).period)
    return pd.DataFrame({"month": [m for m in wanted if m not in done], "kind": "monthly"})


def collect(lake: Lake, org_id: str, period: str, snapshot: int | None = None) -> SupervisionData:
    """The supervision report's content for ``org_id`` and month ``period`` at ``snapshot`` (None: latest data)."""
    reports.check_period("supervision", period)
    snapshot = reports.pinned(lake, snapshot)
    org = reports.resolve_org(lake, org_id, snapshot, period)
    inspection = supervision.inspect(lake, org_id, period, snapshot)
    caps = reports.cap_status(lake, org_id, period, snapshot)
    quality = reports.quality_summary(reports.data_quality(lake, org_id, period, snapshot),
                                      reports.rejected_records(lake, org_id, period, snapshot))
    return SupervisionData(org, period, snapshot, inspection, caps, quality,
                           months_without_report(lake, org_id, period, snapshot))


def figures(data: SupervisionData) -> pd.DataFrame:
    """The findings counted (org_id, period, finding, label_zh, label_en, count, snapshot_id): ``figures.csv``."""
    counts = dict(zip(*data.inspection.summary().to_dict("list").values()))
    counts.update(caps_over=int(data.caps.over_cap.sum()) if len(data.caps) else 0,
                  reports_missing=len(data.reports_missing))
    return pd.DataFrame({"org_id": data.org["org_id"], "period": data.period, "finding": list(FINDINGS),
                         "label_zh": [reports.text(f, "zh") for f in FINDINGS],
                         "label_en": [reports.text(f, "en") for f in FINDINGS],
                         "count": [int(counts[f]) for f in FINDINGS], "snapshot_id": data.snapshot_id})


def _shown(frame: pd.DataFrame, columns: dict[str, str | None], lang: str):
    """``reports.report_table`` of ``frame``, or one cell saying there is nothing to list."""
    if frame.empty:
        return pd.DataFrame({reports.text("finding", lang): [reports.text("none", lang)]}).style.hide(axis="index")
    return reports.report_table(frame, columns, lang)


def as_of_line(inspection: supervision.Inspection, lang: str) -> str:
    """The day the findings hold on and the deadline rule (one sentence)."""
    return reports.text("supervision_as_of", lang).format(day=inspection.as_of, deadline=supervision.DEADLINE_DAY,
                                                          snapshot=inspection.snapshot)


def summary_view(table: pd.DataFrame, lang: str):
    """The findings counted, as a report table."""
    return reports.report_table(table.assign(finding=table["label_zh" if lang == "zh" else "label_en"]),
                          {"finding": None, "count": "count"}, lang)


def _dated(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    return frame.assign(**{c: frame[c].map(lambda v: "" if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d"))
                           for c in columns if c in frame})


def _named(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    return frame.assign(category=frame.category.map(lambda c: label(f"category_{c}", lang)))


def late_view(inspection: supervision.Inspection, lang: str):
    """Entries submitted after their deadline (the day of the following month set for the ledger)."""
    shown = _dated(_named(inspection.late, lang), ("period_start", "submitted_at", "deadline"))
    return _shown(shown, {"entry_id": None, "org_id": None, "period_start": None, "category": None,
                                  "activity_type": None, "submitted_at": None, "deadline": None,
                                  "days_late": "count"}, lang)


def pending_view(inspection: supervision.Inspection, lang: str):
    """Entries awaiting a reviewer or returned to their officer, with the days waited and the last comment."""
    pending = inspection.pending
    shown = _dated(_named(pending, lang), ("period_start",)).assign(
        status=pending.status.map(lambda v: label(v, lang, "ledger")),
        waiting_days=pending.waiting_days.map(lambda v: "" if pd.isna(v) else f"{v:,.0f}"))
    return _shown(shown, {"entry_id": None, "org_id": None, "period_start": None, "category": None,
                                  "status": None, "waiting_days": None, "last_step_by": None, "comment": None},
                          lang)


def missing_view(inspection: supervision.Inspection, lang: str):
    """Months an enterprise reporting before has no entry for, with the days since their deadline."""
    shown = _dated(inspection.missing, ("month", "deadline"))
    return _shown(shown, {"org_id": None, "month": None, "deadline": None, "days_overdue": "count"}, lang)


def reports_view(data: SupervisionData, lang: str):
    """Monthly reports not produced."""
    shown = data.reports_missing.assign(kind=data.reports_missing.kind.map(lambda k: reports.text(f"title_{k}", lang)))
    return _shown(shown, {"month": None, "kind": None}, lang)


def tables(data: SupervisionData, findings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables a supervision report exports (sheet name -> table); the findings counted first."""
    return {"figures": findings, "late": data.inspection.late, "pending": data.inspection.pending,
            "missing": data.inspection.missing, "caps": data.caps, "reports_missing": data.reports_missing}
