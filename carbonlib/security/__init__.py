"""The security layer: identities, roles over org subtrees, sessions and a tamper-evident audit log.

Every capability asks the same two questions of one object, :class:`Security`:

* ``security.require(principal, action, org_id, paths=…)``: may this principal do ``action``
  on this org?  Refusals raise :class:`PermissionDenied` and are audited.
* ``security.record(principal, action, …)``: leave an audit record (fail closed: if it
  cannot be written, the action must not proceed).
* ``with security.operation(principal, action, org_id, …) as op:`` both around a service
  call: authorise, record ``started``, then ``ok`` (with ``op.detail``) or ``failed``.

Parts: :mod:`.store` (its own database, never the lake), :mod:`.policy`, :mod:`.passwords`
(argon2id), :mod:`.sessions` (login, lockout, TOTP, sessions, password changes),
:mod:`.admin` (the triad's operations), :mod:`.roles`, :mod:`.principal`, :mod:`.audit`
and :mod:`.merkle` (RFC 6962, reusable by any verifiable log), :mod:`.keys`.  Faces (the
dashboards' login pages, ``carbon login``, ``carbon security``/``carbon audit``) live in
``carbonlib.viz`` and ``carbonlib.cli``; nothing here imports a UI package.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from . import keys as audit_keys
from .admin import Account, Administration, NewAccount
from .audit import AuditLog, Entry, Verification
from .policy import Policy
from .principal import ANONYMOUS, Grant, PermissionDenied, Principal
from .roles import ACTIONS, ADMIN_ROLES, BUSINESS_ROLES, DESCRIPTIONS, ROLES, UNSCOPED
from .sessions import Login, LoginRefused, Sessions, SessionInvalid
from .store import Store, StoreError, now

__all__ = ["ACTIONS", "ADMIN_ROLES", "ANONYMOUS", "BUSINESS_ROLES", "DESCRIPTIONS", "ROLES", "Account", "Entry", "Grant",
           "Login", "LoginRefused", "NewAccount", "Operation", "PermissionDenied", "Policy", "Principal", "Security",
           "SessionInvalid", "StoreError", "Verification"]

#: The service key of the scheduled jobs (user name and secret), owner-only, next to the store.
SERVICE_KEY = "service.key"
SERVICE_USER = "scheduler"


@dataclass
class Operation:
    """An authorised service call in progress (:meth:`Security.operation`); set ``detail`` (and
    ``outcome``, "ok" or "failed") for the closing audit record."""

    detail: str = ""
    outcome: str = "ok"


class Security:
    """The security layer of one deployment (see module doc).  Open with :meth:`open`; close when done."""

    def __init__(self, settings: Settings, store: Store, keys: audit_keys.AuditKeys):
        self.settings = settings
        self.store = store
        self.policy = self._load_policy()
        self.audit = AuditLog(store, keys, self.policy)
        self.sessions = Sessions(store, self.audit, self.policy)
        self.admin = Administration(store, self.audit, self.policy, self.sessions)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, settings: Settings) -> "Security":
        """The security layer of ``settings`` (its store and audit keys must exist: ``carbon security init``)."""
        return cls(settings, Store.open(settings), audit_keys.load(audit_keys.key_path(settings)))

    @classmethod
    def init(cls, settings: Settings) -> tuple["Security", list[NewAccount]]:
        """Create the store, the audit keys and the triad (``sysadmin``, ``secadmin``, ``auditor``).

        Each gets a one-time password (changed at first login) and a TOTP secret; they are
        returned once and stored only as hashes.  Refused when the store has accounts already.
        """
        store = Store.open(settings, create=True)
        with store.transaction() as tx:
            accounts = tx.one("SELECT count(*) FROM users")[0]
        if accounts:
            store.close()
            raise StoreError(f"the security store {store.location.display} has accounts already; refusing to "
                             "initialise it again")
        key_file = audit_keys.key_path(settings)
        keys = audit_keys.load(key_file) if key_file.exists() else audit_keys.create(key_file)
        security = cls(settings, store, keys)
        security.audit.append("system", "provisioning", "security_init", object=f"store:{store.location.display}",
                              detail=f"audit key {keys.key_id}")
        created = [security.provision(role, f"{role} (initial)", admin_role=role) for role in ADMIN_ROLES]
        return security, created

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Security":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _load_policy(self) -> Policy:
        with self.store.transaction() as tx:
            row = tx.one("SELECT value FROM meta WHERE key = 'policy'")
        return Policy.from_json(row[0]) if row else Policy()

    # ------------------------------------------------------------------ authorisation
    def require(self, principal: Principal, action: str, org_id: str | None = None, *,
                paths: Mapping[str, str] | None = None, object: str = "") -> None:
        """Raise :class:`PermissionDenied` (audited) unless ``principal`` may do ``action`` on ``org_id``."""
        if principal.may(action, org_id, paths):
            return
        where = f" on {org_id}" if org_id else ""
        self.audit.append(principal.username, principal.role_for(action), action, object=object or (org_id or ""),
                          org_id=org_id or "", outcome="denied", source=principal.source,
                          detail=f"needs {' or '.join(ACTIONS.get(action, ()))}{where}")
        needs = " or ".join(ACTIONS.get(action, ()))
        raise PermissionDenied(f"{principal.username} may not {action.replace('_', ' ')}{where}: that needs the role "
                               + (needs if action in UNSCOPED else f"{needs} on a subtree holding {org_id}"))

    def record(self, principal: Principal, action: str, *, object: str = "", org_id: str = "", outcome: str = "ok",
               detail: str = "") -> Entry:
        """An audit record of ``principal`` doing ``action`` (fail closed: an error here must stop the action)."""
        return self.audit.append(principal.username, principal.role_for(action), action, object=object, org_id=org_id,
                                 outcome=outcome, source=principal.source, detail=detail)

    @contextmanager
    def operation(self, principal: Principal, action: str, org_id: str | None = None, *,
                  paths: Mapping[str, str] | None = None, object: str = "", detail: str = "") -> Iterator[Operation]:
        """Authorise ``action`` (:meth:`require`), record it ``started``, run the block, record the outcome.

        An exception in the block is recorded as ``failed`` with its type and message, then
        re-raised; the closing record carries the block's ``Operation.detail``.
        """
        self.require(principal, action, org_id, paths=paths, object=object)
        where = {"object": object, "org_id": org_id or ""}
        self.record(principal, action, outcome="started", detail=detail, **where)
        operation = Operation()
        try:
            yield operation
        except BaseException as error:
            self.record(principal, action, outcome="failed", detail=f"{type(error).__name__}: {error}", **where)
            raise
        self.record(principal, action, outcome=operation.outcome, detail=operation.detail, **where)

    # ------------------------------------------------------------------ provisioning
    def provision(self, username: str, display_name: str, *, admin_role: str | None = None,
                  grants: Iterable[tuple[str, str]] = (), password: str | None = None, must_change: bool = True,
                  service: bool = False) -> NewAccount:
        """Create an account with its roles, as the operator who holds the store (``security init``, the demo).

        Audited as actor ``provisioning``.  ``password`` (default: a one-time password) must meet the policy.
        """
        account = self.admin._create(username, display_name, "provisioning", password=password, must_change=must_change)
        with self.store.transaction(exclusive=True) as tx:
            if admin_role:
                tx.run("UPDATE users SET admin_role = ?, is_admin = 1 WHERE username = ?", [admin_role, account.username])
            if service:
                tx.run("UPDATE users SET service = 1 WHERE username = ?", [account.username])
            user_id = tx.one("SELECT user_id FROM users WHERE username = ?", [account.username])[0]
            for role, org_id in grants:
                tx.run("INSERT INTO grants (user_id, is_admin, role, org_id, granted_by, granted_at) "
                       "VALUES (?, 0, ?, ?, 'provisioning', ?)", [user_id, role, org_id, now()])
            roles = [admin_role] if admin_role else [f"{r}@{o}" for r, o in grants]
            self.audit.append("provisioning", "provisioning", "grant_roles", object=f"user:{account.username}",
                              detail="roles " + (", ".join(roles) or "none"), tx=tx)
        return account

    def service_key_path(self) -> Path:
        return audit_keys.key_path(self.settings).with_name(SERVICE_KEY)

    def create_service_account(self, root: str) -> Path:
        """The scheduler's account (role ``scheduler`` on ``root``) and its key file (owner-only); the file's path."""
        from .passwords import one_time_password

        secret = one_time_password(self.policy)
        self.provision(SERVICE_USER, "scheduled jobs", grants=[("scheduler", root)], password=secret,
                       must_change=False, service=True)
        path = self.service_key_path()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{SERVICE_USER}\n{secret}\n")
        return path

    def service_login(self, source: str = "local") -> Login:
        """Log the scheduler in with its key file (refused unless the file is owner-only)."""
        path = self.service_key_path()
        if not path.is_file():
            raise LoginRefused(f"no service key at {path}: log in with `carbon login` instead")
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise LoginRefused(f"the service key {path} is readable by others. Fix: chmod 600 {path}")
        username, secret = path.read_text().split("\n")[:2]
        return self.sessions.login(username, secret, source=source)
