"""Accounts, roles and policy: what the system and security administrators do, each act audited.

The system administrator creates, disables, enables and unlocks accounts and resets
passwords (a one-time password, changed at first login); the security administrator grants
and revokes roles on org subtrees, makes an account one of the triad, and sets the policy.
Neither sees business data; the auditor only reads the log.  The store refuses a second
administrator role and any business grant for an administrator (see :mod:`.store`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import pyotp

from . import passwords
from .audit import AuditLog
from .policy import Policy
from .principal import PermissionDenied, Principal
from .roles import ACTIONS
from .sessions import Sessions
from .store import ADMIN_ROLES, BUSINESS_ROLES, Store, Transaction, normalise_username, now


@dataclass(frozen=True)
class NewAccount:
    """A created account: its one-time password and (administrators) the TOTP secret, shown once."""

    username: str
    one_time_password: str
    totp_secret: str | None

    def totp_uri(self, issuer: str = "Carbon Sink Workbench") -> str | None:
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.username, issuer_name=issuer) if self.totp_secret else None


@dataclass(frozen=True)
class Account:
    """An account as the administrators see it (never a hash, token or secret)."""

    username: str
    display_name: str
    admin_role: str | None
    disabled: bool
    locked_until: str | None
    must_change: bool
    grants: tuple[tuple[str, str], ...]


class Administration:
    """The administrators' operations over one store (see module doc)."""

    def __init__(self, store: Store, audit: AuditLog, policy: Policy, sessions: Sessions):
        self.store, self.audit, self.policy, self.sessions = store, audit, policy, sessions

    # ------------------------------------------------------------------ checks
    def _require(self, actor: Principal, action: str, object: str, tx: Transaction | None = None) -> None:
        if actor.may(action):
            return
        self.audit.append(actor.username, ",".join(actor.roles) or "none", action, object=object, outcome="denied",
                          source=actor.source, detail=f"needs the role {' or '.join(ACTIONS[action])}", tx=tx)
        raise PermissionDenied(f"{actor.username} may not {action.replace('_', ' ')} (needs the role "
                               f"{' or '.join(ACTIONS[action])})")

    def _user(self, tx: Transaction, username: str) -> tuple:
        row = tx.one("SELECT user_id, username, admin_role FROM users WHERE username = ?", [normalise_username(username)])
        if row is None:
            raise ValueError(f"no account {normalise_username(username)!r}")
        return row

    def _record(self, actor: Principal, action: str, object: str, tx: Transaction, *, org_id: str = "",
                detail: str = "") -> None:
        self.audit.append(actor.username, actor.role_for(action), action, object=object, org_id=org_id,
                          source=actor.source, detail=detail, tx=tx)

    # ------------------------------------------------------------------ accounts (system administrator)
    def create_user(self, actor: Principal, username: str, display_name: str) -> NewAccount:
        """A new account with a one-time password (and a TOTP secret, used once it becomes an administrator)."""
        self._require(actor, "manage_accounts", f"user:{username}")
        return self._create(username, display_name, actor.username, actor=actor)

    def _create(self, username: str, display_name: str, created_by: str, *, actor: Principal | None = None,
                password: str | None = None, must_change: bool = True) -> NewAccount:
        name = normalise_username(username)
        display = str(display_name).strip()[:100] or name
        one_time = password or passwords.one_time_password(self.policy)
        secret = pyotp.random_base32()
        with self.store.transaction(exclusive=True) as tx:
            if tx.one("SELECT 1 FROM users WHERE username = ?", [name]):
                raise ValueError(f"an account {name!r} exists already")
            tx.run("INSERT INTO users (username, display_name, must_change, totp_secret, created_at, created_by) "
                   "VALUES (?, ?, 1, ?, ?, ?)", [name, display, secret, now(), created_by])
            user_id = tx.one("SELECT user_id FROM users WHERE username = ?", [name])[0]
            self.sessions._set_password(tx, user_id, name, one_time, must_change=must_change)
            if actor is not None:
                self._record(actor, "manage_accounts", f"user:{name}", tx, detail="created")
            else:
                self.audit.append(created_by, "provisioning", "manage_accounts", object=f"user:{name}",
                                  detail="created", tx=tx)
        return NewAccount(name, one_time, secret)

    def set_disabled(self, actor: Principal, username: str, disabled: bool) -> None:
        self._require(actor, "manage_accounts", f"user:{username}")
        with self.store.transaction(exclusive=True) as tx:
            user_id, name, _ = self._user(tx, username)
            if user_id == actor.user_id and disabled:
                raise ValueError("an administrator does not disable their own account")
            tx.run("UPDATE users SET disabled = ? WHERE user_id = ?", [int(disabled), user_id])
            if disabled:
                tx.run("UPDATE sessions SET ended_at = ?, end_reason = 'account disabled' "
                       "WHERE user_id = ? AND ended_at IS NULL", [now(), user_id])
            self._record(actor, "manage_accounts", f"user:{name}", tx, detail="disabled" if disabled else "enabled")

    def unlock(self, actor: Principal, username: str) -> None:
        self._require(actor, "manage_accounts", f"user:{username}")
        with self.store.transaction(exclusive=True) as tx:
            user_id, name, _ = self._user(tx, username)
            tx.run("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE user_id = ?", [user_id])
            self._record(actor, "manage_accounts", f"user:{name}", tx, detail="unlocked")

    def reset_password(self, actor: Principal, username: str) -> str:
        """A new one-time password for ``username`` (changed at first login); its sessions end."""
        self._require(actor, "manage_accounts", f"user:{username}")
        one_time = passwords.one_time_password(self.policy)
        with self.store.transaction(exclusive=True) as tx:
            user_id, name, _ = self._user(tx, username)
            self.sessions._set_password(tx, user_id, name, one_time, must_change=True)
            tx.run("UPDATE sessions SET ended_at = ?, end_reason = 'password reset' WHERE user_id = ? AND ended_at IS NULL",
                   [now(), user_id])
            self._record(actor, "manage_accounts", f"user:{name}", tx, detail="password reset")
        return one_time

    def accounts(self, actor: Principal) -> list[Account]:
        """Every account with its roles and state (for the system and security administrators)."""
        if not actor.may("grant_roles"):
            self._require(actor, "manage_accounts", "users")
        with self.store.transaction() as tx:
            users = tx.rows("SELECT user_id, username, display_name, admin_role, disabled, locked_until, must_change "
                            "FROM users ORDER BY username")
            grants = tx.rows("SELECT user_id, role, org_id FROM grants ORDER BY role, org_id")
        by_user: dict[int, list] = {}
        for user_id, role, org in grants:
            by_user.setdefault(user_id, []).append((role, org))
        return [Account(name, display, admin, bool(disabled), locked, bool(must), tuple(by_user.get(uid, ())))
                for uid, name, display, admin, disabled, locked, must in users]

    # ------------------------------------------------------------------ roles (security administrator)
    def set_admin_role(self, actor: Principal, username: str, role: str | None) -> None:
        """Make an account one of the triad (``role``), or none; the store refuses a second role or business grants."""
        self._require(actor, "grant_roles", f"user:{username}")
        if role is not None and role not in ADMIN_ROLES:
            raise ValueError(f"{role!r} is not an administrator role; choose one of {ADMIN_ROLES}")
        with self.store.transaction(exclusive=True) as tx:
            user_id, name, current = self._user(tx, username)
            if current and role and current != role:
                raise ValueError(f"{name} is already the {current}; the administrator roles are mutually exclusive "
                                 "(remove that role first)")
            try:
                tx.run("UPDATE users SET admin_role = ?, is_admin = ? WHERE user_id = ?", [role, int(bool(role)), user_id])
            except tx.integrity_error():
                raise ValueError(f"{name} holds business roles; an administrator holds none (revoke them first)") from None
            self._record(actor, "grant_roles", f"user:{name}", tx, detail=f"administrator role {role or 'removed'}")

    def grant(self, actor: Principal, username: str, role: str, org_id: str, known_orgs: Collection[str]) -> None:
        """Grant business ``role`` on the subtree of ``org_id`` (which must be an org of the lake)."""
        self._require(actor, "grant_roles", f"user:{username}")
        if role not in BUSINESS_ROLES:
            raise ValueError(f"{role!r} is not a business role; choose one of {BUSINESS_ROLES} "
                             f"(administrator roles: set_admin_role)")
        if org_id not in known_orgs:
            raise ValueError(f"{str(org_id)[:60]!r} is not an org of the lake")
        with self.store.transaction(exclusive=True) as tx:
            user_id, name, admin = self._user(tx, username)
            if admin:
                raise ValueError(f"{name} is the {admin}; an administrator holds no business role")
            try:
                tx.run("INSERT INTO grants (user_id, is_admin, role, org_id, granted_by, granted_at) "
                       "VALUES (?, 0, ?, ?, ?, ?)", [user_id, role, org_id, actor.username, now()])
            except tx.integrity_error():
                raise ValueError(f"{name} holds {role} on {org_id} already, or is an administrator") from None
            self._record(actor, "grant_roles", f"user:{name}", tx, org_id=org_id, detail=f"granted {role}")

    def revoke(self, actor: Principal, username: str, role: str, org_id: str) -> None:
        self._require(actor, "grant_roles", f"user:{username}")
        with self.store.transaction(exclusive=True) as tx:
            user_id, name, _ = self._user(tx, username)
            if not tx.run("DELETE FROM grants WHERE user_id = ? AND role = ? AND org_id = ?", [user_id, role, org_id]):
                raise ValueError(f"{name} does not hold {role} on {org_id}")
            self._record(actor, "grant_roles", f"user:{name}", tx, org_id=org_id, detail=f"revoked {role}")

    def set_policy(self, actor: Principal, **values: str) -> Policy:
        """Change policy settings (as typed: ``idle_minutes="10"``); every value checked; the new policy."""
        self._require(actor, "set_policy", "policy")
        policy = self.policy.changed(**values)
        with self.store.transaction(exclusive=True) as tx:
            tx.run("DELETE FROM meta WHERE key = 'policy'")
            tx.run("INSERT INTO meta VALUES ('policy', ?)", [policy.to_json()])
            self._record(actor, "set_policy", "policy", tx, detail=", ".join(f"{k}={v}" for k, v in sorted(values.items())))
        return policy
