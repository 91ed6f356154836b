"""Alerts as a service: evaluating the rules (the scheduler's job), acknowledging and listing alerts.

:func:`run_rules` is one evaluation: every rule's check against the wall clock, the lifecycle
steps recorded in one lake commit, then the notices sent.  The scheduled job
(``pipelines/schedule.yaml``, job function ``evaluate_alerts``) runs it as the scheduler account
(action ``evaluate_alerts``, authorised and audited by the scheduler); :func:`evaluate` is the
same for a caller with a principal.  A check that fails keeps its rule's alerts as they were and
the evaluation ends in :class:`AlertsError` after the others are recorded and sent; so does a
delivery that failed (the audit log and the ``job_failed`` rule then tell of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from ..accounting import views
from ..devices import registry
from ..lake import Lake
from ..security import Principal, Security
from ..settings import Settings
from . import lifecycle, notify
from .checks import CHECKS, Context, Finding
from .rules import RuleSet


class AlertsError(RuntimeError):
    """Some rule could not be checked or some notice not delivered; the message says which and why."""


@dataclass
class Evaluation:
    """What one evaluation did: steps by type, deliveries, and what went wrong."""

    at: datetime
    opened: int = 0
    escalated: int = 0
    cleared: int = 0
    still_open: int = 0
    delivered: int = 0
    check_errors: dict[str, str] = field(default_factory=dict)
    delivery_failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"alerts at {self.at:%Y-%m-%d %H:%M} UTC: {self.opened} opened, {self.escalated} escalated, "
                f"{self.cleared} cleared, {self.still_open} open; {self.delivered} notice(s) delivered")
        problems = [f"rule {rule} not checked: {error}" for rule, error in self.check_errors.items()]
        problems += [f"not delivered: {failure}" for failure in self.delivery_failures]
        return text + ("; " + "; ".join(problems) if problems else "")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _within(orgs: tuple[str, ...], paths: dict[str, str], found: list[Finding]) -> list[Finding]:
    """The findings inside the subtrees of ``orgs`` (all when empty)."""
    if unknown := [org for org in orgs if org not in paths]:
        raise ValueError(f"orgs {unknown} are not in the org tree; fix the rule's orgs")
    return [f for f in found if not orgs or any(f"/{org}/" in f"/{paths.get(f.org_id, '')}/" for org in orgs)]


def run_rules(security: Security | None, settings: Settings, rules: RuleSet, *, actor: str,
              at: datetime | None = None) -> Evaluation:
    """Evaluate ``rules`` at ``at`` (naive UTC, default now) as ``actor``; record the steps, send the notices.

    ``security`` gives the audit log to the ``job_failed`` rule (None: that rule finds nothing).
    Raises :class:`AlertsError` after recording and sending when a check or a delivery failed.
    """
    at = (at or _utc_now()).replace(microsecond=0)
    result = Evaluation(at)
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        root = next(iter(paths), "")
        context = Context(lake, at, registry.devices(lake, at=at), root,
                          security.audit.entries if security is not None else None)
        findings: dict[str, list[Finding]] = {}
        for name, rule in rules.rules.items():
            try:
                findings[name] = _within(rule.orgs, paths, CHECKS[rule.kind](context, **rule.params))
            except Exception as error:  # one broken rule must not silence the others
                result.check_errors[name] = f"{type(error).__name__}: {error}"
        steps, notices = lifecycle.plan(lifecycle.alerts(lake), findings, rules, at, actor)
        lifecycle.record(lake, steps, source=f"alerts/{actor}")
        for step in steps:
            setattr(result, step["event_type"], getattr(result, step["event_type"]) + 1)
        result.still_open = len(lifecycle.alerts(lake))
    result.delivered, result.delivery_failures = notify.send(notices, rules)
    if result.check_errors or result.delivery_failures:
        raise AlertsError(result.summary())
    return result


def evaluate(security: Security, principal: Principal, settings: Settings, rules: RuleSet, *,
             at: datetime | None = None) -> Evaluation:
    """:func:`run_rules` as ``principal`` (action ``evaluate_alerts`` on the root of the org tree), audited."""
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
    with security.operation(principal, "evaluate_alerts", next(iter(paths), None), paths=paths,
                            object="alerts") as operation:
        result = run_rules(security, settings, rules, actor=principal.username, at=at)
        operation.detail = result.summary()
    return result


def open_alerts(security: Security, principal: Principal, settings: Settings, *, org_id: str | None = None,
                include_cleared: bool = False) -> pd.DataFrame:
    """Alerts of the orgs ``principal`` may watch (``view_telemetry``) under ``org_id`` (default: all of them)."""
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
        frame = lifecycle.alerts(lake, include_cleared=include_cleared)
    if org_id is not None:
        security.require(principal, "view_telemetry", org_id, paths=paths)
    inside = {org for org, path in paths.items() if org_id is None or f"/{org_id}/" in f"/{path}/"}
    allowed = {org for org in inside if principal.may("view_telemetry", org, paths)}
    return frame[frame.org_id.isin(allowed)].reset_index(drop=True)


def acknowledge(security: Security, principal: Principal, settings: Settings, alert_id: str, *,
                note: str | None = None, at: datetime | None = None) -> pd.Series:
    """``principal`` acknowledges open alert ``alert_id`` (action ``acknowledge_alerts`` on its org): escalation
    stops, the alert stays until its cause is gone.  Returns the alert as it is now."""
    at = (at or _utc_now()).replace(microsecond=0)
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        current = lifecycle.alerts(lake, include_cleared=True)
        found = current[current.alert_id == alert_id]
        if found.empty:
            raise ValueError(f"no alert {alert_id!r}; fix: copy its id from `carbon alerts list`")
        alert = found.iloc[0]
        with security.operation(principal, "acknowledge_alerts", alert.org_id, paths=paths,
                                object=f"alert {alert_id}") as operation:
            if alert.state != "active":
                raise ValueError(f"alert {alert_id} is {alert.state} (by {alert.actor} at {alert.changed_at:%Y-%m-%d %H:%M} "
                                 "UTC); only an active alert can be acknowledged")
            lifecycle.record(lake, [lifecycle.acknowledge_step(alert, at, principal.username, note)],
                             source=f"alerts/{principal.username}")
            operation.detail = f"acknowledged {alert.kind} alert on {alert.subject}" + (f": {note}" if note else "")
        return lifecycle.alerts(lake, include_cleared=True).set_index("alert_id").loc[alert_id]
