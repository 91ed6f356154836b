"""Logging in and out, sessions and password changes.

* A login checks the password (argon2id) and, for the administrator triad when the policy
  says so, a TOTP code (RFC 6238, ``pyotp``).  Five failures (policy) lock the account for
  ten minutes; a locked or disabled account is refused whatever the password.  Every
  attempt is recorded in ``login_attempts`` and the audit log, in the same transaction as
  its effect.
* A session is a random token (256 bits) held by the client; the store keeps only its
  SHA-256, so reading the store does not let anyone take over a session.  It ends after
  ``idle_minutes`` without activity, after ``session_hours`` in any case, at logout, or when
  the account is disabled.
* A password older than ``expiry_days`` or set by an administrator (one-time) must be
  changed before anything else; a new password meets the policy and is none of the last
  ``history`` ones.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pyotp

from . import passwords
from .audit import AuditLog
from .policy import Policy
from .principal import Grant, Principal
from .store import Store, Transaction, normalise_username, now, parse_time


class LoginRefused(PermissionError):
    """A login was refused; the message is safe to show (it never says whether the user exists)."""


class SessionInvalid(PermissionError):
    """No valid session: never given, ended, expired or idle; the message says which and to log in."""


@dataclass(frozen=True)
class Login:
    """A successful login: the principal, the session token for the client, and whether the password must change."""

    principal: Principal
    token: str
    must_change: bool


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _later(minutes: float = 0, hours: float = 0) -> str:
    from datetime import datetime, timezone

    return (datetime.now(timezone.utc) + timedelta(minutes=minutes, hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Sessions:
    """Login, session checks and password changes over one store (see module doc)."""

    def __init__(self, store: Store, audit: AuditLog, policy: Policy):
        self.store = store
        self.audit = audit
        self.policy = policy

    # ------------------------------------------------------------------ login
    def login(self, username: str, password: str, totp: str | None = None, *, source: str = "local") -> Login:
        """A session for ``username`` when the password (and TOTP for administrators) is right; else LoginRefused.

        A refusal is recorded (attempts table, audit log) and committed before it is raised.
        """
        try:
            name = normalise_username(username)
        except ValueError:
            name = None
        with self.store.transaction(exclusive=True) as tx:
            outcome = self._check(tx, name or str(username)[:40], password, totp, source)
        if isinstance(outcome, str):
            raise LoginRefused(outcome)
        return outcome

    def _check(self, tx: Transaction, name: str, password: str, totp: str | None, source: str) -> Login | str:
        """The login, or the refusal message (recorded in ``tx``)."""
        generic = "wrong user name, password or code"
        row = tx.one("SELECT user_id, display_name, admin_role, password_hash, password_changed_at, must_change, "
                     "disabled, totp_secret, failed_logins, locked_until, service FROM users WHERE username = ?", [name])
        if row is None:
            passwords.verify(None, password)  # the same time as a real check: no user enumeration
            return self._refused(tx, name, source, "unknown user", None, generic)
        user_id, display, admin_role, stored, changed_at, must_change, disabled, secret, failures, locked, service = row
        if locked and parse_time(locked) > parse_time(now()):
            return self._refused(tx, name, source, "locked", admin_role,
                                 f"this account is locked after {failures} failed logins until {locked[11:16]} UTC; "
                                 "try again later or ask a system administrator to unlock it")
        if disabled:
            return self._refused(tx, name, source, "disabled", admin_role,
                                 "this account is disabled; ask a system administrator")
        good = passwords.verify(stored, password)
        if good and admin_role and self.policy.admin_totp:
            good = bool(secret and totp and pyotp.TOTP(secret).verify(str(totp).strip(), valid_window=1))
        if not good:
            failures += 1
            lock = failures >= self.policy.lockout_failures
            tx.run("UPDATE users SET failed_logins = ?, locked_until = ? WHERE user_id = ?",
                   [failures, _later(self.policy.lockout_minutes) if lock else None, user_id])
            return self._refused(tx, name, source, "locked out" if lock else "wrong password or code", admin_role,
                                 generic + (f"; the account is now locked for {self.policy.lockout_minutes} minutes"
                                            if lock else ""))
        if passwords.needs_rehash(stored):
            tx.run("UPDATE users SET password_hash = ? WHERE user_id = ?", [passwords.hash_password(password), user_id])
        tx.run("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE user_id = ?", [user_id])
        expired = not service and (changed_at is None or parse_time(changed_at)
                                   + timedelta(days=self.policy.expiry_days) < parse_time(now()))
        token = secrets.token_urlsafe(32)
        tx.run("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
               [token_hash(token), user_id, now(), now(), _later(hours=self.policy.session_hours),
                secrets.token_urlsafe(24), source[:128]])
        tx.run("INSERT INTO login_attempts VALUES (?, ?, ?, 'ok')", [now(), name, source[:128]])
        principal = self._principal(tx, user_id, name, display, admin_role, token, source)
        self.audit.append(name, ",".join(principal.roles) or "none", "login", object=f"user:{name}", outcome="ok",
                          source=source, detail="password change required" if must_change or expired else "", tx=tx)
        return Login(principal, token, bool(must_change or expired))

    def _refused(self, tx: Transaction, name: str, source: str, reason: str, role: str | None, message: str) -> str:
        """Record a refused login (attempts table and audit log); return the message for the user."""
        tx.run("INSERT INTO login_attempts VALUES (?, ?, ?, ?)", [now(), name, source[:128], reason])
        self.audit.append(name, role or "none", "login", object=f"user:{name}", outcome="denied", source=source,
                          detail=reason, tx=tx)
        return message

    @staticmethod
    def _principal(tx: Transaction, user_id: int, name: str, display: str, admin_role: str | None, token: str | None,
                   source: str) -> Principal:
        grants = tuple(Grant(role, org) for role, org in
                       tx.rows("SELECT role, org_id FROM grants WHERE user_id = ? ORDER BY granted_at, role, org_id",
                               [user_id]))
        return Principal(user_id, name, display, admin_role, grants, token, source)

    # ------------------------------------------------------------------ sessions
    def principal(self, token: str | None, *, source: str = "local", touch: bool = True,
                  allow_password_change: bool = False) -> Principal:
        """The principal of a live session; SessionInvalid (and the session ended, audited) otherwise.

        ``touch`` marks activity (a person's request); a page's own timer does not touch.  A
        session whose password must change is refused unless ``allow_password_change``.
        """
        if not token:
            raise SessionInvalid("not logged in: log in first")
        with self.store.transaction() as tx:
            found = self._session(tx, str(token), source, touch, allow_password_change)
        if isinstance(found, str):
            raise SessionInvalid(found)
        return found

    def _session(self, tx: Transaction, token: str, source: str, touch: bool, allow_password_change: bool
                 ) -> Principal | str:
        row = tx.one("SELECT s.user_id, s.last_seen, s.expires_at, s.ended_at, s.end_reason, u.username, "
                     "u.display_name, u.admin_role, u.disabled, u.must_change, u.password_changed_at, u.service "
                     "FROM sessions s JOIN users u USING (user_id) WHERE s.session_hash = ?", [token_hash(token)])
        if row is None:
            return "not logged in (unknown session): log in again"
        (user_id, last_seen, expires, ended, reason, name, display, admin_role, disabled, must_change, changed,
         service) = row
        if ended:
            return f"your session has ended ({reason}): log in again"
        current = parse_time(now())
        ending = ("expired" if parse_time(expires) < current else
                  "idle timeout" if parse_time(last_seen) + timedelta(minutes=self.policy.idle_minutes) < current
                  else "account disabled" if disabled else None)
        if ending:
            tx.run("UPDATE sessions SET ended_at = ?, end_reason = ? WHERE session_hash = ?",
                   [now(), ending, token_hash(token)])
            self.audit.append(name, admin_role or "none", "session_end", object=f"user:{name}", outcome="ok",
                              source=source, detail=ending, tx=tx)
            return f"your session has ended ({ending}): log in again"
        stale = not service and (changed is None or parse_time(changed) + timedelta(days=self.policy.expiry_days) < current)
        if (must_change or stale) and not allow_password_change:
            return "your password must be changed first (one-time or expired): change it, then go on"
        if touch:
            tx.run("UPDATE sessions SET last_seen = ? WHERE session_hash = ?", [now(), token_hash(token)])
        return self._principal(tx, user_id, name, display, admin_role, token, source)

    def csrf_token(self, token: str) -> str:
        """The CSRF token bound to a session (forms carry it; a form without it is refused)."""
        with self.store.transaction() as tx:
            row = tx.one("SELECT csrf_token FROM sessions WHERE session_hash = ?", [token_hash(token)])
        if row is None:
            raise SessionInvalid("not logged in: log in first")
        return row[0]

    def logout(self, token: str, *, source: str = "local") -> None:
        with self.store.transaction(exclusive=True) as tx:
            row = tx.one("SELECT u.username, u.admin_role FROM sessions s JOIN users u USING (user_id) "
                         "WHERE s.session_hash = ? AND s.ended_at IS NULL", [token_hash(token)])
            if row is None:
                return
            tx.run("UPDATE sessions SET ended_at = ?, end_reason = 'logout' WHERE session_hash = ?",
                   [now(), token_hash(token)])
            self.audit.append(row[0], row[1] or "none", "logout", object=f"user:{row[0]}", source=source, tx=tx)

    # ------------------------------------------------------------------ passwords
    def change_password(self, token: str, old: str, new: str, *, source: str = "local") -> None:
        """Change the session user's password (old one required); ValueError naming what the new one lacks."""
        principal = self.principal(token, source=source, allow_password_change=True)
        role = ",".join(principal.roles) or "none"
        with self.store.transaction(exclusive=True) as tx:
            right = passwords.verify(tx.one("SELECT password_hash FROM users WHERE user_id = ?", [principal.user_id])[0], old)
            if not right:
                self.audit.append(principal.username, role, "password_change", object=f"user:{principal.username}",
                                  outcome="denied", source=source, detail="wrong current password", tx=tx)
        if not right:
            raise LoginRefused("the current password is wrong")
        with self.store.transaction(exclusive=True) as tx:
            self._set_password(tx, principal.user_id, principal.username, new, must_change=False)
            self.audit.append(principal.username, role, "password_change", object=f"user:{principal.username}",
                              source=source, tx=tx)

    def _set_password(self, tx: Transaction, user_id: int, username: str, new: str, *, must_change: bool) -> None:
        lacking = passwords.problems(new, self.policy, username=username)
        if lacking:
            raise ValueError("the new password needs " + "; ".join(lacking))
        recent = tx.rows("SELECT password_hash FROM password_history WHERE user_id = ? ORDER BY set_at DESC LIMIT ?",
                         [user_id, self.policy.history])
        if any(passwords.verify(h, new) for (h,) in recent):
            raise ValueError(f"the new password must differ from the last {self.policy.history} ones")
        hashed = passwords.hash_password(new)
        tx.run("UPDATE users SET password_hash = ?, password_changed_at = ?, must_change = ? WHERE user_id = ?",
               [hashed, now(), int(must_change), user_id])
        tx.run("INSERT INTO password_history VALUES (?, ?, ?)", [user_id, hashed, now()])
