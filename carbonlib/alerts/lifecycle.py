"""The alert lifecycle: active -> acknowledged -> cleared, de-duplicated, with escalation.

An alert is one occurrence of a rule's finding about one subject, from the evaluation that first
found it until the first evaluation that no longer does.  Its history is the lake table
``alert_event`` (append-only; the state is the newest step).  :func:`plan` is the whole rule
set, pure: given the open alerts, what the checks found and the time, it returns the steps to
record and the notices to send —

* found and not open: **opened** (state active, level 0), told to the rule's ``notify`` channels;
* found and open: nothing (de-duplication), except an *active* alert older than the rule's
  ``escalate_after_min`` at level 0: **escalated** (level 1), told to ``escalate_to``;
* open and no longer found (or its rule gone from the file): **cleared**, told to whoever was told;
* acknowledging (an operator, :func:`acknowledge_step`) stops escalation; it does not clear.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from ..lake import Lake
from .checks import Finding
from .rules import Rule, RuleSet

SERVICE = "alerts"
_STEP_ORDER = "CASE event_type WHEN 'opened' THEN 0 WHEN 'escalated' THEN 1 WHEN 'acknowledged' THEN 2 ELSE 3 END"


@dataclass(frozen=True)
class Notice:
    """A notification to send: the ``step`` (opened, escalated, cleared), the alert's row and the channels."""

    step: str
    alert: dict
    channels: tuple[str, ...]


def alerts(lake: Lake, *, include_cleared: bool = False, orgs: list[str] | None = None,
           snapshot: int | None = None) -> pd.DataFrame:
    """Alerts in their current state (newest step), oldest first: alert_id, rule, kind, subject, org_id,
    severity, state, level, opened_at, changed_at, actor (of the newest step), facts (dict), note.
    ``snapshot``: as of that lake snapshot (default: the current one)."""
    frame = lake.query(
        "SELECT alert_id, rule, kind, subject, org_id, severity, state, level, opened_at, event_time AS changed_at, "
        "actor, facts, note FROM (SELECT *, min(event_time) OVER (PARTITION BY alert_id) AS opened_at, "
        f"row_number() OVER (PARTITION BY alert_id ORDER BY event_time DESC, {_STEP_ORDER} DESC) AS newest "
        f"FROM {lake.relation('alert_event', snapshot)}) WHERE newest = 1 AND (? OR state <> 'cleared') "
        "AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], org_id)) ORDER BY opened_at, alert_id",
        [include_cleared, orgs, orgs])
    frame["facts"] = [json.loads(text) for text in frame.facts]
    return frame


def _step(alert: dict, event: str, state: str, level: int, at: datetime, actor: str, note: str | None = None) -> dict:
    event_id = hashlib.sha256(f"{alert['alert_id']}|{event}|{at.isoformat()}".encode()).hexdigest()[:24]
    return {"event_id": event_id, "alert_id": alert["alert_id"], "rule": alert["rule"], "kind": alert["kind"],
            "subject": alert["subject"], "org_id": alert["org_id"], "severity": alert["severity"], "event_type": event,
            "state": state, "level": level, "event_time": at, "actor": actor,
            "facts": json.dumps(alert["facts"], ensure_ascii=False, sort_keys=True), "note": note}


def _opened(rule: Rule, finding: Finding, at: datetime) -> dict:
    return {"alert_id": f"{rule.name}:{finding.subject}:{at:%Y%m%dT%H%M%SZ}", "rule": rule.name, "kind": rule.kind,
            "subject": finding.subject, "org_id": finding.org_id, "severity": rule.severity, "facts": finding.facts,
            "opened_at": at, "level": 0}


def plan(open_alerts: pd.DataFrame, findings: dict[str, list[Finding]], rules: RuleSet, at: datetime, actor: str
         ) -> tuple[list[dict], list[Notice]]:
    """Steps (``alert_event`` rows) and notices for one evaluation at ``at`` (naive UTC).

    ``findings``: rule name -> what its check found; a rule missing from it (its check failed)
    keeps its open alerts as they are.
    """
    steps, notices = [], []
    open_by_rule = {rule: part for rule, part in open_alerts.groupby("rule")} if len(open_alerts) else {}
    for name, rule in rules.rules.items():
        if name not in findings:
            continue
        current = open_by_rule.get(name, open_alerts.iloc[0:0])
        current = {row["subject"]: row for row in current.to_dict("records")}
        for finding in findings[name]:
            alert = current.get(finding.subject)
            if alert is None:
                opened = _opened(rule, finding, at)
                steps.append(_step(opened, "opened", "active", 0, at, actor))
                notices.append(Notice("opened", opened, rule.notify))
                continue
            age_min = (at - pd.Timestamp(alert["opened_at"]).to_pydatetime()).total_seconds() / 60
            if (alert["state"] == "active" and alert["level"] == 0 and rule.escalate_after_min is not None
                    and age_min >= rule.escalate_after_min):
                escalated = {**alert, "facts": finding.facts, "level": 1}
                steps.append(_step(escalated, "escalated", "active", 1, at, actor))
                notices.append(Notice("escalated", escalated, rule.escalate_to))
        found = {f.subject for f in findings[name]}
        for subject, alert in current.items():
            if subject not in found:
                steps.append(_step(alert, "cleared", "cleared", int(alert["level"]), at, actor))
                told = rule.notify + (rule.escalate_to if alert["level"] >= 1 else ())
                notices.append(Notice("cleared", alert, tuple(dict.fromkeys(told))))
    for alert in open_alerts.to_dict("records"):
        if alert["rule"] not in rules.rules:
            steps.append(_step(alert, "cleared", "cleared", int(alert["level"]), at, actor,
                               note=f"rule {alert['rule']} is no longer in {rules.path.name}"))
    return steps, notices


def acknowledge_step(alert: pd.Series | dict, at: datetime, actor: str, note: str | None) -> dict:
    """The step of ``actor`` acknowledging open ``alert`` (a row of :func:`alerts`)."""
    alert = dict(alert)
    return _step(alert, "acknowledged", "acknowledged", int(alert["level"]), at, actor, note)


def record(lake: Lake, steps: list[dict], source: str) -> None:
    """Append ``steps`` to ``alert_event`` in one commit (nothing when there are none)."""
    if steps:
        lake.service_append(SERVICE, "alert_event", pd.DataFrame(steps), source=source)
