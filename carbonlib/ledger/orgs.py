"""Organisation master data with history (clause 4.2.1): create, rename, move under another parent, close.

Table ``org`` holds each node as created (with ``opened_on``); every later change is a dated row of
``org_change``, never an overwrite.  :func:`carbonlib.accounting.views.org_tree` applies the changes in force
on a day, so a year's accounts roll up under that year's parents and a report of a past period names the
org as it was then.  Today's tree decides scopes: a moved org is in its new parent's subtree from the day
of the move.  A change takes effect in the accounts at their next refresh (``carbon accounts refresh``).

Rules (each refusal says which; nothing is written): the org and a new parent exist and are open on the
effective day; a parent ranks above its child (province > city > county > enterprise/site); an org with
open children cannot close (move them first); closure is final; the day lies within a year from today;
a reason is given.  Every change is one audited operation of a reviewer whose subtree holds the org (and,
for a move or a creation, the new parent).
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone

import pandas as pd

from ..accounting import views
from ..lake import Lake
from ..lake.schema import LEVEL_RANK
from ..security import Principal, Security
from ..settings import Settings

#: Owner of table ``org_change``.
SERVICE = "orgs"
#: How far ahead a change may be dated (days).
MAX_DAYS_AHEAD = 366


class OrgChangeRefused(ValueError):
    """A change the rules refuse (the message names the field and what is possible)."""


@dataclass(frozen=True)
class NewOrg:
    """An organisation to create under ``parent_id`` from ``opened_on`` (columns of table ``org``)."""

    org_id: str
    parent_id: str
    level: str
    kind: str
    name_zh: str
    name_en: str
    region_code: str
    opened_on: date
    industry: str | None = None
    area_ha: float | None = None
    latitude: float | None = None
    longitude: float | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _day(value: date | str, field: str = "effective_from") -> date:
    try:
        day = pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise OrgChangeRefused(f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None
    latest = _horizon()
    if day > latest:
        raise OrgChangeRefused(f"{field}: {day} is more than a year ahead (latest {latest}); record it nearer the day")
    return day


def _node(tree: pd.DataFrame, org_id: str, day: date, role: str) -> pd.Series:
    """The row of ``org_id`` in ``tree`` (as of ``day``), refused when it is not there or closed by then."""
    hit = tree[tree.org_id == org_id]
    if hit.empty:
        raise OrgChangeRefused(f"{role}: {org_id!r} does not exist on {day} (unknown, or opened later)")
    row = hit.iloc[0]
    if pd.notna(row.closed_on) and pd.Timestamp(row.closed_on).date() <= day:
        raise OrgChangeRefused(f"{role}: {org_id} closed on {pd.Timestamp(row.closed_on).date()}; a closed org "
                               "does not change (closure is final)")
    return row


def _horizon() -> date:
    """The latest day a change may be dated: the tree as of it holds every change recorded."""
    return datetime.now(timezone.utc).date() + timedelta(days=MAX_DAYS_AHEAD)


def lifetimes(lake: Lake) -> pd.DataFrame:
    """Every org's ``opened_on`` (NaT: before any data) and ``closed_on`` (NaT: open), indexed by org_id: the
    tree (:func:`carbonlib.accounting.views.org_tree`) as of the latest day a change may be dated."""
    return views.org_tree(lake, as_of=_horizon()).set_index("org_id")[["opened_on", "closed_on"]]


def outside_lifetime(lifetime: pd.Series, start: date, end: date) -> str | None:
    """Why a period ``start``..``end`` lies outside an org's lifetime (a row of :func:`lifetimes`), or None."""
    opened, closed = lifetime.opened_on, lifetime.closed_on
    if pd.notna(opened) and pd.Timestamp(opened) > pd.Timestamp(end):
        return f"was opened on {pd.Timestamp(opened).date()}, after the period"
    if pd.notna(closed) and pd.Timestamp(closed) <= pd.Timestamp(start):
        return f"closed on {pd.Timestamp(closed).date()}, before the period"
    return None


def _never_closing(lake: Lake, parent_id: str, day: date) -> None:
    """Refuse a parent whose closure is recorded, even for a later day: its new child would be left under a
    closed org (closing it with an open child is refused for the same reason)."""
    closed = lifetimes(lake).closed_on.get(parent_id)
    if closed is not None and pd.notna(closed):
        raise OrgChangeRefused(f"parent_id: {parent_id} closes on {pd.Timestamp(closed).date()}; an org under it "
                               f"from {day} would be left under a closed org (choose another parent)")


def _reason(reason: str) -> str:
    if not str(reason or "").strip():
        raise OrgChangeRefused("reason: give the grounds of the change (decision, document number)")
    return str(reason).strip()


def _absent(lake: Lake, role: str, org_id: str) -> None:
    """Refuse ``org_id``, which is not in today's tree: unknown, or opening on a later day."""
    opened = lifetimes(lake).opened_on.get(org_id)
    if opened is not None and pd.notna(opened):
        raise OrgChangeRefused(f"{role}: {org_id} opens on {pd.Timestamp(opened).date()}; record its changes, or orgs "
                               "under it, from that day on")
    raise OrgChangeRefused(f"{role}: {org_id!r} does not exist (unknown org id; see `carbon orgs list`)")


def _record(security: Security, principal: Principal, settings: Settings, org_id: str, change: str, day: date,
            reason: str, check, *, also_scope: str | None = None, **values) -> pd.Series:
    """Authorise, run ``check(lake, tree_on_day, node)`` and append one ``org_change`` row; return it."""
    reason = _reason(reason)
    change_id = f"OC-{org_id}-{day:%Y%m%d}-{secrets.token_hex(3)}"
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        for role, known in (("org_id", org_id), ("parent_id", also_scope)):
            if known is not None and known not in paths:
                _absent(lake, role, known)
        if also_scope is not None:
            security.require(principal, "manage_orgs", also_scope, paths=paths, object=f"org {org_id}")
        with security.operation(principal, "manage_orgs", org_id, paths=paths, object=f"org {org_id}",
                                detail=f"{change} from {day}: {values or ''} ({reason})"):
            tree = views.org_tree(lake, as_of=day)
            node = _node(tree, org_id, day, "org_id")
            check(lake, tree, node)
            row = dict(change_id=change_id, org_id=org_id, change=change, effective_from=day,
                       name_zh=values.get("name_zh"), name_en=values.get("name_en"),
                       parent_id=values.get("parent_id"), reason=reason, changed_by=principal.username,
                       recorded_at=_now())
            lake.service_append(SERVICE, "org_change", pd.DataFrame([row]), source=f"orgs:{principal.username}")
        return views.org_history(lake, org_id).set_index("change_id").loc[change_id]


def rename(security: Security, principal: Principal, settings: Settings, org_id: str, *, name_zh: str, name_en: str,
           effective_from: date | str, reason: str) -> pd.Series:
    """Rename ``org_id`` from ``effective_from`` on (both names; reports of earlier periods keep the old ones)."""
    day = _day(effective_from)
    name_zh, name_en = str(name_zh or "").strip(), str(name_en or "").strip()
    if not name_zh or not name_en:
        raise OrgChangeRefused("name_zh/name_en: a rename gives both the Chinese and the English name")

    def check(lake: Lake, tree: pd.DataFrame, node: pd.Series) -> None:
        if (node.name_zh, node.name_en) == (name_zh, name_en):
            raise OrgChangeRefused(f"name_zh/name_en: {org_id} is already called {name_zh} / {name_en} on {day}")

    return _record(security, principal, settings, org_id, "rename", day, reason, check, name_zh=name_zh,
                   name_en=name_en)


def move(security: Security, principal: Principal, settings: Settings, org_id: str, *, parent_id: str,
         effective_from: date | str, reason: str) -> pd.Series:
    """Move ``org_id`` (with its subtree) under ``parent_id`` from ``effective_from`` on; the principal's scope
    must hold both the org and the new parent."""
    day = _day(effective_from)

    def check(lake: Lake, tree: pd.DataFrame, node: pd.Series) -> None:
        if pd.isna(node.parent_id):
            raise OrgChangeRefused(f"org_id: {org_id} is the root of the tree (the province) and cannot move")
        if node.parent_id == parent_id:
            raise OrgChangeRefused(f"parent_id: {org_id} is already under {parent_id} on {day}")
        parent = _node(tree, parent_id, day, "parent_id")
        _never_closing(lake, parent_id, day)
        if LEVEL_RANK[parent.level] >= LEVEL_RANK[node.level]:
            raise OrgChangeRefused(f"parent_id: {parent_id} ({parent.level}) is not above {org_id} ({node.level}); "
                                   "parents rank province > city > county > enterprise/site")

    return _record(security, principal, settings, org_id, "move", day, reason, check, also_scope=parent_id,
                   parent_id=parent_id)


def close(security: Security, principal: Principal, settings: Settings, org_id: str, *,
          effective_from: date | str, reason: str) -> pd.Series:
    """Close ``org_id`` from ``effective_from`` on (its figures before that day stay in the accounts)."""
    day = _day(effective_from)

    def check(lake: Lake, tree: pd.DataFrame, node: pd.Series) -> None:
        if pd.isna(node.parent_id):
            raise OrgChangeRefused(f"org_id: {org_id} is the root of the tree (the province) and cannot close")
        later = views.org_tree(lake, as_of=_horizon())  # every change recorded, whatever its day
        for on, frame in ((day, tree), ("later", later)):
            open_children = frame[(frame.parent_id == org_id) & frame.closed_on.isna()].org_id
            if len(open_children):
                raise OrgChangeRefused(f"org_id: {org_id} has open children ({', '.join(open_children)}) "
                                       f"{'on ' + str(on) if on != 'later' else 'after that day'}; move or close "
                                       "them first")

    return _record(security, principal, settings, org_id, "close", day, reason, check)


def create(security: Security, principal: Principal, settings: Settings, new: NewOrg, *, reason: str) -> pd.Series:
    """Create ``new`` under its parent from ``new.opened_on``: the lake's org rules apply (level, kind,
    region code inside the parent's area, one root); the parent must be open on that day."""
    day = _day(new.opened_on, "opened_on")
    reason = _reason(reason)
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        if new.parent_id not in paths:
            _absent(lake, "parent_id", new.parent_id)
        with security.operation(principal, "manage_orgs", new.parent_id, paths=paths, object=f"org {new.org_id}",
                                detail=f"create {new.org_id} {new.name_en} under {new.parent_id} from {day} ({reason})"):
            known = lake.query(f"SELECT count(*) AS n FROM {lake.relation('org')} WHERE org_id = ?", [new.org_id]).n[0]
            if known:
                raise OrgChangeRefused(f"org_id: {new.org_id} exists already (ids are never reused)")
            _node(views.org_tree(lake, as_of=day), new.parent_id, day, "parent_id")
            _never_closing(lake, new.parent_id, day)
            lake.append("org", pd.DataFrame([{**asdict(new), "opened_on": day}]), source=f"orgs:{principal.username}")
        return views.org_tree(lake, as_of=day).set_index("org_id").loc[new.org_id]
