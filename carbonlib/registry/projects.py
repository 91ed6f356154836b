"""A credit project's lifecycle (clause 5.3): initiation, validation, registration, monitoring reports and their
verification per vintage, post-evaluation and acceptance, each step an appended ``project_event``.

The steps and their order (a step out of order is refused, naming the steps possible now):

* ``initiated`` (立项): the project is entered (table ``credit_project``) by a registry operator of the
  proponent's subtree;
* ``validated`` (审定) of the project design and monitoring plan, then ``registered`` (登记);
* per vintage: ``monitoring_report`` (监测报告), then ``verified`` (核证) of that report; credits of the vintage
  are issued only against its verification (:func:`carbonlib.registry.service.issue`);
* ``post_evaluated`` (后评价) and ``accepted`` (验收), after at least one verification, each with its checklist
  (:data:`CHECKLISTS`) answered item by item: an item not met is refused with its name.

Validation, verification, post-evaluation and acceptance are done by a body independent of the proponent
(``body`` must not be the proponent's org).  Steps are dated, each after the one before (one a day).  Each step may carry a document (PDF, image, XLSX, CSV) checked
by content and stored once by SHA-256 beside the lake (the ledger's evidence store); the event's note
names it.  A project's status is its newest step.  Every step is one audited operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from ..accounting import views
from ..lake import Lake
from ..ledger import evidence
from ..security import Principal, Security
from ..settings import Settings
from .book import RegistryRefused

ACTION = "operate_registry"
#: What may follow each step (None: a new project).
NEXT_STEPS: dict[str | None, tuple[str, ...]] = {
    None: ("initiated",), "initiated": ("validated",), "validated": ("registered",),
    "registered": ("monitoring_report",), "monitoring_report": ("verified",),
    "verified": ("monitoring_report", "post_evaluated"), "post_evaluated": ("accepted", "monitoring_report"),
    "accepted": ("monitoring_report",)}
#: Steps an independent body does.
INDEPENDENT = ("validated", "verified", "post_evaluated", "accepted")
#: The checklists of post-evaluation (后评价) and acceptance (验收): every item must be met.
CHECKLISTS = {
    "post_evaluated": ("boundary_as_registered", "monitoring_plan_followed", "data_traceable_to_lake",
                       "uncertainty_reported", "no_unresolved_reversal"),
    "accepted": ("post_evaluation_passed", "credits_reconciled", "documents_complete"),
}


@dataclass(frozen=True)
class NewProject:
    """A project to initiate: id, proponent org, names, type, methodology, crediting period and ex-ante
    estimate (tCO2e/yr)."""

    project_id: str
    org_id: str
    name_zh: str
    name_en: str
    project_type: str
    methodology: str
    crediting_start: date
    crediting_end: date
    estimated_annual_tco2e: float


def lifecycle(lake: Lake, project_id: str) -> pd.DataFrame:
    """The project's steps, oldest first."""
    return lake.read("project_event", where="project_id = ?", params=[project_id]).sort_values(
        "event_date", ignore_index=True, kind="stable")


def status(lake: Lake, project_id: str) -> str | None:
    """The project's newest step (None: no step yet)."""
    steps = lifecycle(lake, project_id)
    return None if steps.empty else str(steps.event_type.iloc[-1])


def initiate(security: Security, principal: Principal, settings: Settings, new: NewProject, *, on: date | None = None,
             document: tuple[str, bytes] | None = None) -> pd.Series:
    """Enter ``new`` and its ``initiated`` step dated ``on`` (default today; see module doc); its lifecycle row."""
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        with security.operation(principal, ACTION, new.org_id, paths=paths, object=f"project {new.project_id}",
                                detail="initiated") as operation:
            if not lake.read("credit_project", where="project_id = ?", params=[new.project_id]).empty:
                raise RegistryRefused(f"project_id: {new.project_id} exists already")
            lake.append("credit_project", pd.DataFrame([dict(
                project_id=new.project_id, org_id=new.org_id, name_zh=new.name_zh, name_en=new.name_en,
                project_type=new.project_type, methodology=new.methodology, status="initiated",
                crediting_start=new.crediting_start, crediting_end=new.crediting_end,
                estimated_annual_tco2e=float(new.estimated_annual_tco2e))]), source=f"registry:{principal.username}")
            row = _append(lake, settings, new.project_id, "initiated", f"{new.project_id}-INIT", new.org_id,
                          "project initiated", document, on)
            operation.detail = f"initiated {new.project_id}"
        return row


def record_step(security: Security, principal: Principal, settings: Settings, project_id: str, step: str, *,
                body: str, on: date, note: str = "", vintage: int | None = None,
                checklist: dict[str, bool] | None = None, document: tuple[str, bytes] | None = None) -> pd.Series:
    """Record ``step`` of ``project_id`` done by ``body`` on day ``on``: a monitoring report or its verification
    names its ``vintage``; post-evaluation and acceptance answer their checklist; ``document`` is (file name,
    bytes).  Refused, with nothing written: a step out of order, a verification without the vintage's report,
    a vintage outside the crediting period, a body that is the proponent, an unmet checklist item, a bad file."""
    with Lake.open(settings) as lake:
        found = lake.read("credit_project", where="project_id = ?", params=[str(project_id)])
        if found.empty:
            refusal = f"project_id: no project {project_id!r} in table credit_project"
            security.record(principal, ACTION, object=f"project {str(project_id)[:60]}", outcome="failed", detail=refusal)
            raise RegistryRefused(refusal)
        project = found.iloc[0]
        paths = views.org_paths(lake)
        with security.operation(principal, ACTION, project.org_id, paths=paths, object=f"project {project_id}",
                                detail=step) as operation:
            steps = lifecycle(lake, project_id)
            last = None if steps.empty else str(steps.event_type.iloc[-1])
            if step not in NEXT_STEPS.get(last, ()):
                possible = ", ".join(NEXT_STEPS.get(last, ())) or "none"
                raise RegistryRefused(f"step: {project_id} is {last or 'new'}; {step!r} cannot follow it "
                                      f"(possible now: {possible})")
            if last is not None and on <= pd.Timestamp(steps.event_date.iloc[-1]).date():
                raise RegistryRefused(f"on: {on} is not after the previous step ({last}, "
                                      f"{pd.Timestamp(steps.event_date.iloc[-1]).date()}); one step per day, in order")
            if step in INDEPENDENT and str(body).strip() in ("", project.org_id):
                raise RegistryRefused(f"body: {step} is done by a body independent of the proponent "
                                      f"{project.org_id}; name it")
            event_id, text = f"{project_id}-{step.upper()}-{len(steps) + 1}", str(note or "").strip()
            if step in ("monitoring_report", "verified"):
                start, end = pd.Timestamp(project.crediting_start).year, pd.Timestamp(project.crediting_end).year
                if isinstance(vintage, bool) or not isinstance(vintage, int) or not start <= vintage <= end:
                    raise RegistryRefused(f"vintage: {vintage!r} is outside the crediting period {start}-{end}")
                event_id = f"{project_id}-{'M' if step == 'monitoring_report' else 'V'}{vintage}"
                if step == "verified" and f"{project_id}-M{vintage}" not in set(steps.event_id):
                    raise RegistryRefused(f"vintage: there is no monitoring report of {vintage} to verify")
                if event_id in set(steps.event_id):
                    raise RegistryRefused(f"vintage: {project_id} has its {step.replace('_', ' ')} of {vintage} already")
                text = f"vintage {vintage}" + (f": {text}" if text else "")
            if step in CHECKLISTS:
                answers = checklist or {}
                unmet = [item for item in CHECKLISTS[step] if answers.get(item) is not True]
                if unmet:
                    raise RegistryRefused(f"checklist: {step} needs every item met; not met: {', '.join(unmet)}")
                text = "; ".join([*(f"{item}: met" for item in CHECKLISTS[step]), *([text] if text else [])])
            row = _append(lake, settings, project_id, step, event_id, str(body).strip() or project.org_id, text,
                          document, on)
            operation.detail = f"{step} {event_id}"
        return row


def _append(lake: Lake, settings: Settings, project_id: str, step: str, event_id: str, actor: str, note: str,
            document: tuple[str, bytes] | None, on: date | None = None) -> pd.Series:
    if document is not None:
        name, content = document
        found = evidence.inspect(name, content)
        evidence.store(settings, found, content)
        note = f"{note} [document {found.filename} sha256:{found.sha256}]".strip()
    lake.append("project_event", pd.DataFrame([dict(event_id=event_id, project_id=project_id, event_type=step,
                                                    event_date=on or date.today(), actor=actor, note=note or None)]),
                source="registry")
    return lifecycle(lake, project_id).set_index("event_id").loc[event_id]
