"""The credit registry as a service: every operation with the acting principal, audited (clause 5.2).

Registry operators (``operate_registry``) act in their org subtree: they open an org's accounts,
issue a project's credits to its proponent, and operate an account holder's units (transfer,
retire, pledge, release, cancel, report a reversal).  A transfer is requested on the holder's
side and accepted (or rejected) on the recipient's side, by an operator whose subtree holds the
recipient and who is not the person who asked (four-eyes).

Issuance rests on the lake's project records (clause 5.3): the project is registered (a
``registered`` event), the verification it cites is a ``verified`` event of that project, and the
vintage lies in the crediting period.  A compliance retirement names an org with a cap in the
cap year it offsets; the caps' offset rule counts it (:func:`carbonlib.accounting.caps.credits_retired`).

Each call is one audited operation (``started``, then ``ok`` or ``failed`` with the refusal);
after it the lake's ``credit_event`` mirror is brought up to date (:func:`carbonlib.registry.publish.mirror`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd

from ..accounting import views
from ..lake import Lake
from ..security import Principal, Security
from ..settings import Settings
from .book import Registry, RegistryRefused
from .publish import mirror

ACTION = "operate_registry"


def _refuse(security: Security, principal: Principal, what: str, org_id: str, message: str) -> RegistryRefused:
    """The refusal of an operation that cannot even name its org, audited as failed."""
    security.record(principal, ACTION, object=what, org_id=str(org_id)[:128], outcome="failed", detail=message)
    return RegistryRefused(message)


def _operate(security: Security, principal: Principal, settings: Settings, org_id: str, what: str,
             work: Callable[[Lake, Registry], dict]) -> dict:
    """Run ``work`` as ``principal`` on ``org_id`` inside one audited operation, then mirror to the lake."""
    with Lake.open(settings) as lake, Registry.open(settings) as registry:
        paths = views.org_paths(lake)
        if org_id not in paths:
            raise _refuse(security, principal, what, org_id,
                          f"org_id: {org_id!r} is not an organisation of the lake (table org)")
        with security.operation(principal, ACTION, org_id, paths=paths, object=what) as operation:
            result = work(lake, registry)
            operation.detail = f"{result['kind']} {result.get('quantity', '')} {result['op_id']} (log {result['seq']})"
        mirror(lake, registry)
        return result


def _proponent(security: Security, principal: Principal, settings: Settings, project_id: str, what: str) -> str:
    """The org of ``project_id`` (its proponent); an unknown project is refused, audited."""
    with Lake.open(settings, read_only=True) as lake:
        found = lake.read("credit_project", columns=["org_id"], where="project_id = ?", params=[str(project_id)])
    if found.empty:
        raise _refuse(security, principal, what, "", f"project_id: no project {project_id!r} in table credit_project")
    return str(found.org_id.iloc[0])


def open_accounts(security: Security, principal: Principal, settings: Settings, org_id: str) -> dict:
    """Open ``org_id``'s holding, retirement, cancellation and buffer accounts."""
    def work(lake: Lake, registry: Registry) -> dict:
        accounts = registry.open_accounts(org_id)
        return {"kind": "open_accounts", "op_id": f"OPEN-{org_id}", "seq": "-", "accounts": accounts}
    return _operate(security, principal, settings, org_id, f"registry accounts of {org_id}", work)


def issue(security: Security, principal: Principal, settings: Settings, project_id: str, vintage: int,
          quantity: int, *, verification_ref: str, buffer_share: float | None = None) -> dict:
    """Issue ``quantity`` credits of ``vintage`` against the project's verification event ``verification_ref``
    (see module doc for what is checked); the proponent's accounts are opened when missing."""
    what = f"issuance of {project_id} {vintage}"
    proponent = _proponent(security, principal, settings, project_id, what)

    def work(lake: Lake, registry: Registry) -> dict:
        project = lake.read("credit_project", where="project_id = ?", params=[project_id]).iloc[0]
        events = lake.read("project_event", where="project_id = ?", params=[project_id])
        if "registered" not in set(events.event_type):
            raise RegistryRefused(f"project {project_id} is not registered (no 'registered' event); credits are "
                                  "issued only to registered projects")
        verified = events[(events.event_id == verification_ref) & (events.event_type == "verified")]
        if verified.empty:
            raise RegistryRefused(f"verification_ref: {verification_ref!r} is not a 'verified' event of {project_id}; "
                                  "issue only against a verified monitoring report")
        start, end = pd.Timestamp(project.crediting_start).year, pd.Timestamp(project.crediting_end).year
        if isinstance(vintage, bool) or not isinstance(vintage, int) or not start <= vintage <= end:
            raise RegistryRefused(f"vintage: {vintage!r} is outside {project_id}'s crediting period {start}-{end}")
        registry.open_accounts(project.org_id)
        share = {} if buffer_share is None else {"buffer_share": buffer_share}
        return registry.issue(project_id, vintage, quantity, proponent=project.org_id,
                              verification_ref=verification_ref, **share)
    return _operate(security, principal, settings, proponent, what, work)


def request_transfer(security: Security, principal: Principal, settings: Settings, from_org: str, to_org: str,
                     project_id: str, vintage: int, quantity: int, *, price_cny: float | None = None,
                     serial_range: tuple[int, int] | None = None) -> dict:
    """Ask to move ``quantity`` held credits from ``from_org`` to ``to_org`` (reserved until decided)."""
    def work(lake: Lake, registry: Registry) -> dict:
        if to_org not in views.org_paths(lake):
            raise RegistryRefused(f"to_org: {to_org!r} is not an organisation of the lake (table org)")
        return registry.request_transfer(from_org, to_org, project_id, vintage, quantity, price_cny=price_cny,
                                         serial_range=serial_range, requested_by=principal.username)
    return _operate(security, principal, settings, from_org, f"transfer {from_org} -> {to_org}", work)


def _decide_transfer(security: Security, principal: Principal, settings: Settings, transfer_id: str,
                     outcome: str) -> dict:
    with Registry.open(settings) as registry:
        found = registry.transfers().set_index("transfer_id")
    if transfer_id not in found.index:
        raise RegistryRefused(f"transfer_id: no transfer {transfer_id!r}")
    transfer = found.loc[transfer_id]
    side = transfer.from_account if outcome == "cancelled" else transfer.to_account
    org_id = side[4:]

    def work(lake: Lake, registry: Registry) -> dict:
        if outcome == "accepted" and transfer.requested_by == principal.username:
            raise RegistryRefused(f"four-eyes: {principal.username} requested transfer {transfer_id} and cannot "
                                  "accept it; an operator of the recipient must")
        act = {"accepted": registry.accept_transfer, "rejected": registry.reject_transfer,
               "cancelled": registry.cancel_transfer}[outcome]
        return act(transfer_id, org_id)
    return _operate(security, principal, settings, org_id, f"transfer {transfer_id}", work)


def accept_transfer(security: Security, principal: Principal, settings: Settings, transfer_id: str) -> dict:
    """Accept ``transfer_id`` on the recipient's side: the units move."""
    return _decide_transfer(security, principal, settings, transfer_id, "accepted")


def reject_transfer(security: Security, principal: Principal, settings: Settings, transfer_id: str) -> dict:
    """Refuse ``transfer_id`` on the recipient's side: the units are free again at the holder."""
    return _decide_transfer(security, principal, settings, transfer_id, "rejected")


def cancel_transfer(security: Security, principal: Principal, settings: Settings, transfer_id: str) -> dict:
    """Withdraw ``transfer_id`` on the holder's side."""
    return _decide_transfer(security, principal, settings, transfer_id, "cancelled")


def retire(security: Security, principal: Principal, settings: Settings, org_id: str, project_id: str,
           vintage: int, quantity: int, *, beneficiary: str, purpose: str, cap_year: int | None = None,
           serial_range: tuple[int, int] | None = None) -> dict:
    """Retire held credits of ``org_id`` for ``beneficiary``; a compliance retirement offsets the
    beneficiary's cap in ``cap_year`` (the beneficiary is then an org with that cap)."""
    def work(lake: Lake, registry: Registry) -> dict:
        if purpose == "compliance" and isinstance(cap_year, int):
            capped = lake.query(f"SELECT count(*) AS n FROM {lake.relation('cap')} WHERE org_id = ? AND year = ?",
                                [beneficiary, cap_year]).n[0]
            if not capped:
                raise RegistryRefused(f"beneficiary: {beneficiary!r} has no cap for {cap_year}; a compliance "
                                      "retirement offsets the cap of the org named as beneficiary")
        return registry.retire(org_id, project_id, vintage, quantity, beneficiary=beneficiary, purpose=purpose,
                               cap_year=cap_year, serial_range=serial_range)
    return _operate(security, principal, settings, org_id, f"retirement from {org_id}", work)


def pledge(security: Security, principal: Principal, settings: Settings, org_id: str, project_id: str,
           vintage: int, quantity: int, *, pledgee: str) -> dict:
    """Pledge held credits of ``org_id`` to ``pledgee``."""
    return _operate(security, principal, settings, org_id, f"pledge by {org_id}",
                    lambda lake, registry: registry.pledge(org_id, project_id, vintage, quantity, pledgee=pledgee))


def release(security: Security, principal: Principal, settings: Settings, org_id: str, pledge_id: str) -> dict:
    """Release pledge ``pledge_id`` of ``org_id``."""
    return _operate(security, principal, settings, org_id, f"pledge {pledge_id}",
                    lambda lake, registry: registry.release(pledge_id, org_id))


def cancel(security: Security, principal: Principal, settings: Settings, org_id: str, project_id: str,
           vintage: int, quantity: int, *, reason: str) -> dict:
    """Cancel held credits of ``org_id`` for ``reason``."""
    return _operate(security, principal, settings, org_id, f"cancellation by {org_id}",
                    lambda lake, registry: registry.cancel(org_id, project_id, vintage, quantity, reason=reason))


def report_reversal(security: Security, principal: Principal, settings: Settings, project_id: str, quantity: int,
                    *, cause: str, when: date | None = None, note: str = "") -> dict:
    """A reversal of ``quantity`` tCO2e at ``project_id`` (fire, pests, illegal logging …): its buffer credits
    are cancelled (:meth:`carbonlib.registry.book.Registry.reverse`)."""
    what = f"reversal at {project_id}"
    proponent = _proponent(security, principal, settings, project_id, what)
    text = f"{when.isoformat()} {note}".strip() if when else note
    return _operate(security, principal, settings, proponent, what,
                    lambda lake, registry: registry.reverse(project_id, quantity, proponent=proponent, cause=cause,
                                                            note=text))


def request_export(security: Security, principal: Principal, settings: Settings, org_id: str, project_id: str,
                   vintage: int, quantity: int, *, destination: str) -> dict:
    """Mark held credits of ``org_id`` for export to ``destination`` (another registry); they are pending
    until the export is confirmed by an operator who did not ask (four-eyes) or cancelled."""
    return _operate(security, principal, settings, org_id, f"export by {org_id}",
                    lambda lake, registry: registry.request_export(org_id, project_id, vintage, quantity,
                                                                   destination=destination,
                                                                   requested_by=principal.username))


def _decide_export(security: Security, principal: Principal, settings: Settings, export_id: str,
                   confirm: bool, destination_ref: str | None) -> dict:
    with Registry.open(settings) as registry:
        found = registry.exports().set_index("export_id")
    if export_id not in found.index:
        raise _refuse(security, principal, f"export {str(export_id)[:60]}", "", f"export_id: no export {export_id!r}")
    export = found.loc[export_id]

    def work(lake: Lake, registry: Registry) -> dict:
        if not confirm:
            return registry.cancel_export(export_id, export.account_id[4:])
        if export.requested_by == principal.username:
            raise RegistryRefused(f"four-eyes: {principal.username} requested export {export_id} and cannot "
                                  "confirm it; another registry operator records the destination's confirmation")
        return registry.confirm_export(export_id, export.account_id[4:], destination_ref=destination_ref or "")
    return _operate(security, principal, settings, export.account_id[4:], f"export {export_id}", work)


def confirm_export(security: Security, principal: Principal, settings: Settings, export_id: str, *,
                   destination_ref: str) -> dict:
    """Record that the destination registry took export ``export_id`` under ``destination_ref``: the units are
    exported (terminal here)."""
    return _decide_export(security, principal, settings, export_id, True, destination_ref)


def cancel_export(security: Security, principal: Principal, settings: Settings, export_id: str) -> dict:
    """Call off export ``export_id``: its units are held again."""
    return _decide_export(security, principal, settings, export_id, False, None)
