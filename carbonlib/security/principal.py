"""Who is acting, and the one authorisation rule: may this principal do that action on this org.

A :class:`Principal` is resolved from a session (web pages), a login token (command line)
or a service key (scheduled jobs); it is never taken from a URL, a form field or a header.
Business grants are scoped to an org subtree: ``org_id`` is allowed when one of the
principal's grant roots lies on its path from the province (``paths``: org_id ->
``'P43/C4301/D430121'``, :func:`carbonlib.accounting.views.org_tree`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .roles import ACTIONS, PUBLIC, UNSCOPED


class PermissionDenied(PermissionError):
    """The principal may not do the action (on that org); the message says who, what and why."""


@dataclass(frozen=True)
class Grant:
    """A business role on the subtree below ``org_id``."""

    role: str
    org_id: str


@dataclass(frozen=True)
class Principal:
    """An authenticated actor: user name, administrator role (or None) and business grants."""

    user_id: int
    username: str
    display_name: str
    admin_role: str | None = None
    grants: tuple[Grant, ...] = ()
    session: str | None = field(default=None, repr=False, compare=False)  # the session token, never printed
    source: str = "local"

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.admin_role,) if self.admin_role else tuple(dict.fromkeys(g.role for g in self.grants))

    def roots(self, action: str) -> list[str]:
        """Tops of the subtrees where the principal may do the scoped ``action`` (grant order, no repeats)."""
        allowed = ACTIONS.get(action, ())
        return list(dict.fromkeys(g.org_id for g in self.grants if g.role in allowed))

    def may(self, action: str, org_id: str | None = None, paths: Mapping[str, str] | None = None) -> bool:
        """Whether the principal may do ``action`` (on ``org_id``, whose path from the root is in ``paths``)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; known: {sorted(ACTIONS)}")
        if action in UNSCOPED:
            return PUBLIC in ACTIONS[action] or self.admin_role in ACTIONS[action]
        if org_id is None or paths is None or org_id not in paths:
            return False
        on_path = set(paths[org_id].split("/"))
        return any(root in on_path for root in self.roots(action))

    def role_for(self, action: str) -> str:
        """The role that allows ``action`` (for the audit record)."""
        if self.admin_role:
            return self.admin_role
        allowed = [g.role for g in self.grants if g.role in ACTIONS.get(action, ())]
        return allowed[0] if allowed else ",".join(self.roles) or "none"


#: The unauthenticated visitor of the public disclosure.
ANONYMOUS = Principal(0, "anonymous", "public visitor")
