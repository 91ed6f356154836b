"""Requests about a cap and their decisions (clause 6.2.2): apply, then grant or refuse, with four eyes.

* An enterprise's data officer applies for **extra allowance** or for **offsetting** with credits; a
  reviewer of its subtree (a regulator) enters an **allocation adjustment** (which may be negative).
* A reviewer of the org's subtree decides once: granted (up to the amount asked) or refused, always with
  a comment, never on a request they made themselves.
* Granted allocation adjustments and extra allowances change the cap the accounts use (item ``cap`` =
  allocation + granted amounts; its basis names the requests), from the next accounts refresh, which
  :func:`decide` runs.  Granted offsets are recorded for the compliance check; the credits themselves
  are the registry's retirements (:mod:`carbonlib.accounting.caps`).

Every step is one audited operation of the security layer.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from ..lake import Lake
from ..lake.schema import CAP_REQUEST_KINDS
from ..security import Principal, Security
from ..settings import Settings
from . import accounts, views

#: Owner of tables ``cap_request`` and ``cap_decision``.
SERVICE = "caps"
#: Request kinds that change the cap the accounts use once granted.
CAP_CHANGING = ("allocation_adjustment", "extra_allowance")


class CapRequestRefused(ValueError):
    """A request or decision the rules refuse (the message says which rule and what is possible)."""


@dataclass(frozen=True)
class CapRequest:
    """A request to file: org, compliance year, kind (:data:`carbonlib.lake.schema.CAP_REQUEST_KINDS`),
    amount (tCO2e), reason and the supporting document's reference."""

    org_id: str
    year: int
    kind: str
    amount_tco2e: float
    reason: str
    evidence_ref: str


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def requests(lake: Lake, snapshot: int | None = None) -> pd.DataFrame:
    """Every request with its decision (decision, granted_tco2e, decided_by, decided_at, comment; empty while
    open) as of ``snapshot``."""
    return lake.query(
        f"SELECT r.*, d.decision, d.amount_tco2e AS granted_tco2e, d.decided_by, d.decided_at, d.comment "
        f"FROM {lake.relation('cap_request', snapshot)} r LEFT JOIN {lake.relation('cap_decision', snapshot)} d "
        "USING (request_id) ORDER BY r.requested_at, r.request_id")


def request(security: Security, principal: Principal, settings: Settings, new: CapRequest) -> pd.Series:
    """File ``new`` as ``principal``: a data officer of the org for extra allowance or offset, a reviewer of its
    subtree for an allocation adjustment.  Refused, with nothing written: an org without a cap for that year, a
    kind not known, a zero amount or a negative one other than an adjustment, an empty reason or reference."""
    if new.kind not in CAP_REQUEST_KINDS:
        raise CapRequestRefused(f"kind: {new.kind!r} is not one of {', '.join(CAP_REQUEST_KINDS)}")
    action = "review_ledger" if new.kind == "allocation_adjustment" else "enter_ledger"
    request_id = f"CR-{new.org_id}-{int(new.year)}-{secrets.token_hex(3)}"
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        with security.operation(principal, action, new.org_id, paths=paths, object=f"cap request {request_id}",
                                detail=f"{new.kind} {new.amount_tco2e:+,.1f} tCO2e for {new.year}"):
            capped = lake.query(f"SELECT count(*) AS n FROM {lake.relation('cap')} WHERE org_id = ? AND year = ?",
                                [new.org_id, int(new.year)]).n[0]
            if not capped:
                raise CapRequestRefused(f"org_id/year: {new.org_id} has no cap for {new.year}; a request changes an "
                                        "allocated cap (allocate it first: table cap)")
            for field in ("reason", "evidence_ref"):
                if not str(getattr(new, field)).strip():
                    raise CapRequestRefused(f"{field}: give the {field.replace('_', ' ')} of the request")
            row = pd.DataFrame([dict(request_id=request_id, org_id=new.org_id, year=int(new.year), kind=new.kind,
                                     amount_tco2e=float(new.amount_tco2e), reason=new.reason.strip(),
                                     evidence_ref=new.evidence_ref.strip(), requested_by=principal.username,
                                     requested_at=_now())])
            lake.service_append(SERVICE, "cap_request", row, source=f"caps:{principal.username}")
        return requests(lake).set_index("request_id").loc[request_id]


def decide(security: Security, principal: Principal, settings: Settings, request_id: str, *, grant: bool,
           comment: str, amount_tco2e: float | None = None) -> pd.Series:
    """Grant (``amount_tco2e``: at most the amount asked, default all of it) or refuse request ``request_id`` as
    ``principal``, a reviewer of the org's subtree other than the requester, with a ``comment``; then refresh
    the accounts (a granted cap change moves the ``cap`` figure).  Refused, with nothing written: a request
    already decided, one's own request, an empty comment, an amount of the other sign or above the one asked."""
    with Lake.open(settings) as lake:
        found = requests(lake)
        if request_id not in set(found.request_id):
            raise CapRequestRefused(f"request_id: no cap request {request_id!r}")
        asked = found.set_index("request_id").loc[request_id]
        paths = views.org_paths(lake)
        verb = "granted" if grant else "refused"
        with security.operation(principal, "review_ledger", asked.org_id, paths=paths,
                                object=f"cap request {request_id}", detail=f"{verb} {request_id}") as operation:
            if pd.notna(asked.decision):
                raise CapRequestRefused(f"request {request_id} was already {asked.decision} by {asked.decided_by}; "
                                        "a decision is final (file a new request)")
            if asked.requested_by == principal.username:
                raise CapRequestRefused(f"four-eyes: {principal.username} made request {request_id} and cannot "
                                        "decide it; another reviewer must")
            if not str(comment or "").strip():
                raise CapRequestRefused("comment: a decision needs its grounds")
            amount = float(asked.amount_tco2e if amount_tco2e is None else amount_tco2e) if grant else 0.0
            if grant and (amount * asked.amount_tco2e <= 0 or abs(amount) > abs(asked.amount_tco2e)):
                raise CapRequestRefused(f"amount: {amount:,.1f} tCO2e is not between 0 and the "
                                        f"{asked.amount_tco2e:,.1f} tCO2e asked")
            lake.service_append(SERVICE, "cap_decision", pd.DataFrame([dict(
                request_id=request_id, decision=verb, amount_tco2e=amount, decided_by=principal.username,
                decided_at=_now(), comment=str(comment).strip())]), source=f"caps:{principal.username}")
            operation.detail = f"{verb} {request_id}: {amount:+,.1f} tCO2e of {asked.amount_tco2e:+,.1f}"
        if grant and asked.kind in CAP_CHANGING:
            accounts.refresh_accounts(lake)
        return requests(lake).set_index("request_id").loc[request_id]
