"""The emission ledger (台账) as a service: entering entries, and their four-eyes review (clause 5.1).

Entries (table ``activity``) are never changed once written; review is a separate stream of
steps (table ``activity_review``, :mod:`carbonlib.ledger.workflow`) and an entry's status is
derived from its newest step (:func:`carbonlib.accounting.views.activity_status_sql`), so an
approval is an append and the history of every entry stays whole.  The accounts count approved
entries that are not reversed or corrected; periods with entries awaiting review show as
pending (``pending_entry_months``).

Every function takes the acting ``principal``: data officers (``enter_ledger``) enter and
submit for their enterprise, reviewers (``review_ledger``) approve, return, reject and reverse in
their subtree, never an entry they entered or submitted.  Each call is one audited operation;
a refusal names the entry, the field or the rule, and writes nothing.
"""

from __future__ import annotations

import logging
import secrets
import warnings
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone

import pandas as pd

from ..accounting import accounts, views
from ..accounting.factor_library import FactorLibrary
from ..lake import Lake
from ..lake.sql import literal
from ..security import Principal, Security
from ..settings import Settings
from . import evidence as evidence_store
from . import orgs, supervision
from .workflow import LIVE_STATUSES, NEXT_STEPS, STEP_ACTION, ReviewRefused, check_step, review_id

LOG = logging.getLogger(__name__)

#: Owner of table ``activity_review`` (see :attr:`carbonlib.lake.schema.Table.owner`).
SERVICE = "ledger"


@dataclass(frozen=True)
class NewEntry:
    """One ledger entry as a data officer enters it: ``amount`` in ``unit`` (one the category allows, e.g. t, Nm3,
    MWh, GJ) over the period ``period_start``..``period_end`` (dates, at most a year, not in the future).  A fuel
    may carry measured parameters that override the defaults (``ncv`` in the fuel's default NCV unit, GJ/t or
    GJ/10^4 Nm3; ``carbon_content`` in tC/TJ; ``oxidation`` as a share), each backed by a lab report attached."""

    org_id: str
    period_start: date
    period_end: date
    category: str
    activity_type: str
    amount: float
    unit: str
    evidence_ref: str
    ncv: float | None = None
    carbon_content: float | None = None
    oxidation: float | None = None


@dataclass(frozen=True)
class Attachment:
    """An evidence file to attach: its name as uploaded, its bytes and what it shows (``EVIDENCE_KINDS``: invoice,
    meter_reading, weighbridge_slip, lab_report, contract, other)."""

    filename: str
    content: bytes
    kind: str = "invoice"


#: Statuses in which evidence may still be attached (before the entry is final or approved).
ATTACHABLE = ("draft", "submitted", "returned")


def _refresh_accounts(lake: Lake) -> None:
    """Bring the accounts up to date after a ledger change, so figures and pending marks follow at once (the
    scheduler's accounts job catches up if this fails; the ledger change itself stands)."""
    try:
        accounts.refresh_accounts(lake)
    except Exception as error:  # noqa: BLE001 - the review step is written; the accounts job will retry
        LOG.warning("accounts not refreshed after a ledger change (%s); the scheduled accounts job will", error)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _entry(lake: Lake, entry_id: str) -> pd.Series:
    found = lake.query(f"SELECT * FROM ({views.activity_status_sql(lake)}) WHERE entry_id = ?", [entry_id])
    if found.empty:
        raise ValueError(f"ledger entry {entry_id!r} does not exist (carbon ledger list shows the entries you may see)")
    return found.iloc[0]


def _steps(lake: Lake, entry_id: str) -> pd.DataFrame:
    return lake.query(f"SELECT * FROM {lake.relation('activity_review')} WHERE entry_id = ? ORDER BY review_id",
                      [entry_id])


def _step_row(entry_id: str, sequence: int, step: str, actor: str, at: datetime, comment: str | None,
              related: str | None = None) -> dict:
    return dict(review_id=review_id(entry_id, sequence), entry_id=entry_id, event=step, actor=actor, event_time=at,
                comment=(comment or "").strip() or None, related_entry_id=related)


def preview(lake: Lake, entry: NewEntry) -> pd.DataFrame:
    """The account items ``entry`` would add (item, value, unit, basis: tCO2e with the factor rows used as
    ``ef=<factor_id>``, energy in tce), computed as the accounts will.  Raises ValueError naming the field when
    the accounts could not use the entry (an unknown fuel, a unit of the wrong dimension, a missing factor)."""
    row = pd.DataFrame([{**asdict(entry), "entry_id": "preview"}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", accounts.LedgerEntrySkipped)
        figures, left_out = accounts.entry_emissions(row, FactorLibrary.of_lake(lake, entry.period_start.year))
    if len(left_out):
        raise ValueError(f"activity_type/unit: the accounts cannot use this entry ({left_out.reason.iloc[0]}); "
                         "nothing was written")
    return figures[["item", "value", "unit", "basis"]].reset_index(drop=True)


def _live_duplicate(lake: Lake, entry: NewEntry, corrects: str | None) -> str | None:
    """Id of a live entry for the same org, category, activity type and period (other than ``corrects``)."""
    live = ", ".join(literal(s) for s in LIVE_STATUSES)
    found = lake.query(
        f"SELECT entry_id FROM ({views.activity_status_sql(lake)}) WHERE org_id = ? AND category = ? "
        f"AND activity_type = ? AND period_start = ? AND period_end = ? AND status IN ({live}) "
        f"AND reverses_entry_id IS NULL AND entry_id IS DISTINCT FROM ? ORDER BY entry_id LIMIT 1",
        [entry.org_id, entry.category, entry.activity_type, entry.period_start, entry.period_end, corrects])
    return None if found.empty else str(found.entry_id.iloc[0])


def _pending_correction(lake: Lake, target: str) -> str | None:
    """Id of an entry submitted to correct ``target`` that is still live, if any."""
    found = lake.query(
        f"SELECT r.entry_id FROM {lake.relation('activity_review')} r JOIN ({views.activity_status_sql(lake)}) e "
        f"USING (entry_id) WHERE r.event = 'submitted' AND r.related_entry_id = ? AND e.status IN "
        f"({', '.join(literal(s) for s in LIVE_STATUSES)}) LIMIT 1", [target])
    return None if found.empty else str(found.entry_id.iloc[0])


def enter(security: Security, principal: Principal, settings: Settings, entry: NewEntry, *, submit: bool = True,
          corrects: str | None = None, comment: str | None = None,
          attachments: tuple[Attachment, ...] = ()) -> pd.Series:
    """Enter ``entry`` for its enterprise as ``principal`` (a data officer there) and, with ``submit``, submit it for
    review.  ``corrects``: an approved or returned entry of the same org and category that this one replaces once
    approved.  ``attachments``: evidence files, checked by content before anything is written
    (:mod:`carbonlib.ledger.evidence`).  Refused, with nothing written: a duplicate of a live entry for the same
    source and period, an entry the accounts could not use, a file that is not accepted evidence, or a row the
    lake's rules refuse (each names the field).  Returns the entry with its derived status."""
    at = _now()
    checked = [(evidence_store.inspect(a.filename, a.content), a) for a in attachments]
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        with security.operation(principal, "enter_ledger", entry.org_id, paths=paths,
                                object=f"ledger {entry.org_id} {entry.period_start}") as operation:
            if corrects is not None:
                target = _entry(lake, corrects)
                if (target.org_id, target.category) != (entry.org_id, entry.category):
                    raise ValueError(f"corrects: entry {corrects} is of {target.org_id} {target.category}, not "
                                     f"{entry.org_id} {entry.category}; a correction replaces an entry of the same "
                                     "org and category")
                if "corrected" not in NEXT_STEPS.get(target.status, ()):
                    raise ReviewRefused(f"corrects: entry {corrects} is {target.status}; only an approved or "
                                        "returned entry can be corrected")
                other = _pending_correction(lake, corrects)
                if other:
                    raise ReviewRefused(f"corrects: entry {other} already corrects {corrects} and awaits review")
            measured = [k for k in ("ncv", "carbon_content", "oxidation") if getattr(entry, k) is not None]
            if measured and not any(a.kind == "lab_report" for _, a in checked):
                raise ValueError(f"{measured[0]}: measured {', '.join(measured)} need their evidence: attach the lab "
                                 "report (evidence kind lab_report)")
            outside = orgs.outside_lifetime(orgs.lifetimes(lake).loc[entry.org_id], entry.period_start,
                                            entry.period_end)
            if outside:
                raise ValueError(f"org_id: {entry.org_id} {outside} {entry.period_start}..{entry.period_end}; "
                                 "enter the ledger of the org that existed then")
            duplicate = _live_duplicate(lake, entry, corrects)
            if duplicate:
                raise ValueError(f"period_start: entry {duplicate} already stands for {entry.org_id} {entry.category} "
                                 f"{entry.activity_type} {entry.period_start}..{entry.period_end}; enter a correction "
                                 f"of it (--corrects {duplicate}) instead of a second entry")
            if entry.period_start <= at.date():  # a future period is refused by the lake's rules, naming the field
                preview(lake, entry)
            entry_id = f"L-{entry.org_id}-{entry.period_start:%Y%m}-{secrets.token_hex(3)}"
            row = {**asdict(entry), "entry_id": entry_id, "author": principal.username, "status": "draft",
                   "entered_at": at, "reverses_entry_id": None}
            lake.append("activity", pd.DataFrame([row]), source=f"ledger/{principal.username}")
            _attach(lake, settings, principal, entry_id, checked, at)
            if submit:
                step = _step_row(entry_id, 1, "submitted", principal.username, at, comment, corrects)
                lake.service_append(SERVICE, "activity_review", pd.DataFrame([step]),
                                    source=f"ledger/{principal.username}")
            operation.detail = (f"entered {entry_id}: {entry.category} {entry.activity_type} {entry.amount:g} "
                                f"{entry.unit}{', submitted' if submit else ''}"
                                f"{f', correcting {corrects}' if corrects else ''}"
                                f"{f', {len(checked)} evidence file(s)' if checked else ''}")
        if submit:
            _refresh_accounts(lake)
        return _entry(lake, entry_id)


def _attach(lake: Lake, settings: Settings, principal: Principal, entry_id: str,
            checked: list[tuple[evidence_store.Evidence, Attachment]], at: datetime) -> None:
    """Store the checked files and record them against ``entry_id`` (one write)."""
    if not checked:
        return
    rows = []
    for found, attachment in checked:
        evidence_store.store(settings, found, attachment.content)
        rows.append(dict(entry_id=entry_id, sha256=found.sha256, filename=found.filename,
                         media_type=found.media_type, size_bytes=found.size_bytes, kind=attachment.kind,
                         attached_by=principal.username, attached_at=at))
    lake.service_append(SERVICE, "activity_evidence", pd.DataFrame(rows).drop_duplicates(["sha256"]),
                        source=f"ledger/{principal.username}")


def attach(security: Security, principal: Principal, settings: Settings, entry_id: str,
           attachments: tuple[Attachment, ...]) -> pd.DataFrame:
    """Attach evidence files to a draft, submitted or returned entry (a data officer of its enterprise; e.g. what
    a reviewer asked for when returning it).  Returns the entry's evidence list."""
    checked = [(evidence_store.inspect(a.filename, a.content), a) for a in attachments]
    with Lake.open(settings) as lake:
        entry = _entry(lake, entry_id)
        paths = views.org_paths(lake)
        with security.operation(principal, "enter_ledger", entry.org_id, paths=paths,
                                object=f"ledger entry {entry_id}") as operation:
            if entry.status not in ATTACHABLE:
                raise ReviewRefused(f"entry {entry_id} is {entry.status}: evidence is attached while it is "
                                    f"{', '.join(ATTACHABLE)}")
            known = set(_evidence(lake, entry_id).sha256)
            fresh = [(f, a) for f, a in checked if f.sha256 not in known]
            _attach(lake, settings, principal, entry_id, fresh, _now())
            operation.detail = f"attached {', '.join(f.filename for f, _ in fresh) or 'nothing new'} to {entry_id}"
        return _evidence(lake, entry_id)


def _evidence(lake: Lake, entry_id: str) -> pd.DataFrame:
    return lake.query(f"SELECT * FROM {lake.relation('activity_evidence')} WHERE entry_id = ? ORDER BY attached_at, "
                      "filename", [entry_id])


def evidence_file(security: Security, principal: Principal, settings: Settings, entry_id: str, sha256: str
                  ) -> tuple[pd.Series, bytes]:
    """One evidence file of ``entry_id`` (its row and bytes, re-checked against the hash), for whoever may see the
    entry (:func:`history`)."""
    entry, _steps_, files = history(security, principal, settings, entry_id)
    chosen = files[files.sha256 == sha256]
    if chosen.empty:
        raise ValueError(f"entry {entry_id} has no evidence {sha256[:12]}…")
    return chosen.iloc[0], evidence_store.read(settings, sha256)


def _take_step(security: Security, principal: Principal, settings: Settings, entry_id: str, step: str,
               comment: str | None) -> pd.Series:
    at = _now()
    with Lake.open(settings) as lake:
        entry = _entry(lake, entry_id)
        paths = views.org_paths(lake)
        with security.operation(principal, STEP_ACTION[step], entry.org_id, paths=paths,
                                object=f"ledger entry {entry_id}") as operation:
            steps = _steps(lake, entry_id)
            submitted = steps[steps.event == "submitted"]
            check_step(entry_id, entry.status, step, actor=principal.username, author=entry.author,
                       submitter=submitted.actor.iloc[-1] if len(submitted) else None, comment=comment)
            rows = [_step_row(entry_id, len(steps) + 1, step, principal.username, at, comment)]
            corrects = submitted.related_entry_id.iloc[-1] if len(submitted) else None
            if step == "approved" and isinstance(corrects, str):
                target = _entry(lake, corrects)
                if "corrected" not in NEXT_STEPS.get(target.status, ()):
                    raise ReviewRefused(f"entry {entry_id} corrects {corrects}, which is now {target.status}: "
                                        "return or reject this correction")
                rows.append(_step_row(corrects, len(_steps(lake, corrects)) + 1, "corrected", principal.username,
                                      at, f"corrected by {entry_id}", entry_id))
            lake.service_append(SERVICE, "activity_review", pd.DataFrame(rows), source=f"ledger/{principal.username}")
            operation.detail = f"{step} {entry_id}" + (f" (correcting {corrects})" if len(rows) > 1 else "") + (
                f": {comment.strip()}" if comment and comment.strip() else "")
        _refresh_accounts(lake)
    after = entry.copy()  # its derived status after this step (views.activity_status_sql), without a new read
    after["status"], after["last_step_at"], after["last_step_by"] = step, pd.Timestamp(at), principal.username
    return after


def submit(security: Security, principal: Principal, settings: Settings, entry_id: str, *,
           comment: str | None = None) -> pd.Series:
    """Submit a draft or returned entry for review (a data officer of its enterprise)."""
    return _take_step(security, principal, settings, entry_id, "submitted", comment)


def approve(security: Security, principal: Principal, settings: Settings, entry_id: str, *,
            comment: str | None = None) -> pd.Series:
    """Approve a submitted entry (a reviewer who neither entered nor submitted it).  If it corrects an entry, that
    one is marked corrected in the same write: the accounts then count the correction instead."""
    return _take_step(security, principal, settings, entry_id, "approved", comment)


def return_entry(security: Security, principal: Principal, settings: Settings, entry_id: str, *,
                 comment: str) -> pd.Series:
    """Return a submitted entry to its officer with ``comment`` (what to fix); it may be submitted again or
    corrected."""
    return _take_step(security, principal, settings, entry_id, "returned", comment)


def reject(security: Security, principal: Principal, settings: Settings, entry_id: str, *,
           comment: str) -> pd.Series:
    """Reject a submitted entry for good, with ``comment``."""
    return _take_step(security, principal, settings, entry_id, "rejected", comment)


def reverse(security: Security, principal: Principal, settings: Settings, entry_id: str, *,
            comment: str) -> pd.Series:
    """Take an approved entry out of the accounts, with ``comment`` (why); its history stays."""
    return _take_step(security, principal, settings, entry_id, "reversed", comment)


def listing(security: Security, principal: Principal, settings: Settings, *, org: str | None = None,
            status: str | None = None, year: int | None = None) -> pd.DataFrame:
    """Entries with their derived status that ``principal`` may see (where it views figures, enters or reviews the
    ledger; ``org``: only that subtree; ``status``, ``year``: filters), newest period first."""
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
        if org is not None:
            security.require(principal, "view_figures", org, paths=paths)
        table = lake.query(f"SELECT * FROM ({views.activity_status_sql(lake)}) "
                           f"ORDER BY period_start DESC, org_id, entry_id")
    visible = [any(principal.may(action, o, paths) for action in ("view_figures", "enter_ledger", "review_ledger"))
               and (org is None or org in paths.get(o, "").split("/")) for o in table.org_id]
    table = table[visible]
    if status is not None:
        table = table[table.status == status]
    if year is not None:
        table = table[pd.to_datetime(table.period_start).dt.year == year]
    return table.reset_index(drop=True)


def history(security: Security, principal: Principal, settings: Settings, entry_id: str
            ) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """The entry (derived status), its review steps (oldest first, including the correction it made or got) and
    its evidence files, for whoever enters or reviews the ledger or views figures on its org."""
    with Lake.open(settings, read_only=True) as lake:
        entry = _entry(lake, entry_id)
        paths = views.org_paths(lake)
        if not any(principal.may(a, entry.org_id, paths) for a in ("enter_ledger", "review_ledger")):
            security.require(principal, "view_figures", entry.org_id, paths=paths, object=f"ledger entry {entry_id}")
        return entry, _steps(lake, entry_id), _evidence(lake, entry_id)


def supervision_view(security: Security, principal: Principal, settings: Settings, *, org: str | None = None,
                     today: date | None = None, deadline_day: int = supervision.DEADLINE_DAY,
                     months: int = 3) -> dict[str, pd.DataFrame]:
    """What a supervisor looks at (clause 10.1) for the orgs ``principal`` sees figures of (``org``: that subtree):
    ``missing`` months past their deadline (:func:`carbonlib.ledger.supervision.missing`), ``late`` submissions,
    entries ``waiting`` for a reviewer or returned to their officer with the days waited."""
    today = today or _now().date()
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
        if org is not None:
            security.require(principal, "view_figures", org, paths=paths)
        missing = supervision.missing(lake, today, deadline_day=deadline_day, months=months)
        entries = supervision.submissions(lake, today, deadline_day=deadline_day)

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        keep = [principal.may("view_figures", o, paths) and (org is None or org in paths.get(o, "").split("/"))
                for o in frame.org_id]
        return frame[keep].reset_index(drop=True)

    late = entries[entries.late].sort_values(["org_id", "period_start", "entry_id"])
    waiting = entries[entries.waiting_days.notna()].sort_values("waiting_days", ascending=False)
    return {"missing": mine(missing), "late": mine(late), "waiting": mine(waiting)}
