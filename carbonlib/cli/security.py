"""``carbon login|logout|whoami|password``, ``carbon security …`` (the triad) and ``carbon audit …`` (the auditor).

Every verb acts as the logged-in principal and is audited; the security layer refuses what
the principal's role does not allow (the system administrator manages accounts, the
security administrator grants roles and sets the policy, the auditor reads the log).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from .auth import acting, save_token, saved_token, session_file
from .common import LakeOption, clean_errors, fail, settings_from

security_app = typer.Typer(help="Accounts, roles and policy (system and security administrators).", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: verify, search, export, checkpoints (auditor).", no_args_is_help=True)

UserArgument = Annotated[str, typer.Argument(help="User name.")]


def _security(lake):
    from ..security import Security, StoreError

    try:
        return Security.open(settings_from(lake))
    except StoreError as error:
        fail(error)


# ------------------------------------------------------------------------------ session
def login(
    lake: LakeOption = None,
    user: Annotated[Optional[str], typer.Option("--user", help="User name (asked when missing).")] = None,
) -> None:
    """Log in; the session token is kept owner-only in ~/.config/carbon/sessions/ ($CARBON_SESSION_FILE)."""
    from ..security import LoginRefused, SessionInvalid

    username = user or typer.prompt("user")
    password = typer.prompt("password", hide_input=True)
    security = _security(lake)
    try:
        with clean_errors():
            try:
                code = typer.prompt("one-time code (authenticator app)", default="", show_default=False) \
                    if _needs_code(security, username) else None
                result = security.sessions.login(username, password, code, source="cli")
            except LoginRefused as refused:
                fail(refused)
            path = save_token(security.settings, result.token)
            if result.must_change:
                typer.echo("your password must be changed now")
                new = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
                try:
                    security.sessions.change_password(result.token, password, new, source="cli")
                except (LoginRefused, SessionInvalid) as refused:
                    fail(refused)
            typer.echo(f"logged in as {result.principal.username} ({', '.join(result.principal.roles) or 'no role'}); "
                       f"session kept in {path}")
    finally:
        security.close()


def _needs_code(security, username: str) -> bool:
    from ..security.store import normalise_username

    try:
        name = normalise_username(username)
    except ValueError:
        return False
    with security.store.transaction() as tx:
        row = tx.one("SELECT admin_role FROM users WHERE username = ?", [name])
    return bool(row and row[0] and security.policy.admin_totp)


def logout(lake: LakeOption = None) -> None:
    """End the session of this command line."""
    settings = settings_from(lake)
    token = saved_token(settings)
    if token:
        security = _security(lake)
        try:
            security.sessions.logout(token, source="cli")
        finally:
            security.close()
        session_file(settings).unlink(missing_ok=True)
    typer.echo("logged out")


def whoami(lake: LakeOption = None) -> None:
    """Who this command line acts as, and with which roles."""
    with acting(settings_from(lake)) as (_, principal):
        grants = [f"{g.role} on {g.org_id}" for g in principal.grants]
        typer.echo(f"{principal.username} ({principal.display_name}): "
                   + (principal.admin_role or ", ".join(grants) or "no role"))


def password(lake: LakeOption = None) -> None:
    """Change your password (the current one is asked)."""
    from ..security import LoginRefused

    token = saved_token(settings_from(lake))
    if not token:
        fail("not logged in. Fix: `carbon login`")
    old = typer.prompt("current password", hide_input=True)
    new = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    security = _security(lake)
    try:
        with clean_errors():
            try:
                security.sessions.change_password(token, old, new, source="cli")
            except LoginRefused as refused:
                fail(refused)
        typer.echo("password changed")
    finally:
        security.close()


# ------------------------------------------------------------------------------ the triad
@security_app.command("init")
def init(lake: LakeOption = None) -> None:
    """Create the security store, the audit keys and the triad; prints their one-time passwords ONCE."""
    from ..security import Security, StoreError

    try:
        security, created = Security.init(settings_from(lake))
    except StoreError as error:
        fail(error)
    with security:
        typer.echo(f"security store {security.store.location.display}; audit key {security.audit.keys.key_id}")
        typer.echo("administrators (one-time passwords: changed at first login; keep the codes' secrets in an "
                   "authenticator app; shown only now):")
        for account in created:
            typer.echo(f"  {account.username:9s} password {account.one_time_password}   TOTP {account.totp_uri()}")


def _print_accounts(accounts) -> None:
    for a in accounts:
        state = "disabled" if a.disabled else f"locked until {a.locked_until}" if a.locked_until else "active"
        roles = a.admin_role or ", ".join(f"{r}@{o}" for r, o in a.grants) or "-"
        typer.echo(f"{a.username:24s} {state:28s} {roles}" + ("  (must change password)" if a.must_change else ""))


@security_app.command("users")
def users(lake: LakeOption = None) -> None:
    """Every account with its roles and state (no passwords, no secrets)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        _print_accounts(security.admin.accounts(principal))


@security_app.command("add-user")
def add_user(username: UserArgument, display_name: Annotated[str, typer.Option("--name", help="Full name.")] = "",
             lake: LakeOption = None) -> None:
    """Create an account (system administrator); prints its one-time password once."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        account = security.admin.create_user(principal, username, display_name or username)
        typer.echo(f"created {account.username}; one-time password {account.one_time_password} (changed at first login)")


@security_app.command("disable")
def disable(username: UserArgument, lake: LakeOption = None) -> None:
    """Disable an account and end its sessions (system administrator)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.set_disabled(principal, username, True)
        typer.echo(f"{username} disabled")


@security_app.command("enable")
def enable(username: UserArgument, lake: LakeOption = None) -> None:
    """Enable a disabled account again (system administrator)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.set_disabled(principal, username, False)
        typer.echo(f"{username} enabled")


@security_app.command("unlock")
def unlock(username: UserArgument, lake: LakeOption = None) -> None:
    """Clear a lockout (system administrator)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.unlock(principal, username)
        typer.echo(f"{username} unlocked")


@security_app.command("reset-password")
def reset_password(username: UserArgument, lake: LakeOption = None) -> None:
    """A new one-time password for an account (system administrator)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        typer.echo(f"{username}: one-time password {security.admin.reset_password(principal, username)}")


@security_app.command("grant")
def grant(username: UserArgument, role: Annotated[str, typer.Argument(help="Business role.")],
          org: Annotated[str, typer.Argument(help="Top of the org subtree.")], lake: LakeOption = None) -> None:
    """Grant a business role on an org subtree (security administrator)."""
    from ..accounting import views
    from ..lake import Lake

    settings = settings_from(lake)
    with Lake.open(settings, read_only=True) as opened:
        known = set(views.org_tree(opened).org_id)
    with acting(settings) as (security, principal), clean_errors():
        security.admin.grant(principal, username, role, org, known)
        typer.echo(f"{username}: {role} on {org}")


@security_app.command("revoke")
def revoke(username: UserArgument, role: Annotated[str, typer.Argument()], org: Annotated[str, typer.Argument()],
           lake: LakeOption = None) -> None:
    """Revoke a business role (security administrator)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.revoke(principal, username, role, org)
        typer.echo(f"{username}: {role} on {org} revoked")


@security_app.command("admin-role")
def admin_role(username: UserArgument, role: Annotated[str, typer.Argument(help="sysadmin, secadmin, auditor or none.")],
               lake: LakeOption = None) -> None:
    """Make an account one of the triad, or none (security administrator; mutually exclusive)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.set_admin_role(principal, username, None if role == "none" else role)
        typer.echo(f"{username}: administrator role {role}")


@security_app.command("policy")
def policy(settings_to_change: Annotated[Optional[list[str]], typer.Argument(help="NAME=VALUE (none: show the policy).")] = None,
           lake: LakeOption = None) -> None:
    """Show or change the security policy (security administrator)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        current = security.policy
        if settings_to_change:
            pairs = dict(item.split("=", 1) for item in settings_to_change if "=" in item)
            if len(pairs) != len(settings_to_change):
                fail("write each change as NAME=VALUE, e.g. idle_minutes=10")
            current = security.admin.set_policy(principal, **pairs)
        typer.echo(json.dumps(json.loads(current.to_json()), indent=2))


@security_app.command("roles")
def roles() -> None:
    """The roles and what each may do."""
    from ..security import DESCRIPTIONS

    for role, text in DESCRIPTIONS.items():
        typer.echo(f"{role:18s} {text}")


# ------------------------------------------------------------------------------ the auditor
@audit_app.command("verify")
def verify(lake: LakeOption = None,
           public_key: Annotated[Optional[Path], typer.Option("--public-key", help="Verify with this public key "
                                                            "only (PEM), as a third party would.")] = None) -> None:
    """Check every entry's seal, the sequence and every signed checkpoint; names the first damaged entry. Exit 1 if any."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.require(principal, "read_audit", object="audit log")
        result = security.audit.verify(public_key.read_text() if public_key else None)
        security.record(principal, "read_audit", object="audit log", outcome="ok" if result.ok else "failed",
                        detail=f"verify: {result.problem or 'intact'}")
    typer.echo(f"{result.entries:,} entries, {result.checkpoints} signed checkpoints (last at {result.last_checkpoint:,}): "
               + ("intact" if result.ok else result.problem))
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("search")
def search(
    lake: LakeOption = None,
    since: Annotated[Optional[str], typer.Option(help="From this UTC time (ISO).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Before this UTC time (ISO).")] = None,
    actor: Annotated[Optional[str], typer.Option()] = None,
    action: Annotated[Optional[str], typer.Option()] = None,
    org: Annotated[Optional[str], typer.Option()] = None,
    outcome: Annotated[Optional[str], typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 100,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="Write the entries as CSV to this file.")] = None,
) -> None:
    """Search the audit log (newest first); optionally export as CSV (auditor)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.require(principal, "read_audit", object="audit log")
        found = security.audit.entries(since=since, until=until, actor=actor, action=action, org_id=org,
                                       outcome=outcome, limit=limit)
        security.record(principal, "read_audit", object="audit log",
                        detail=f"search: {len(found)} entries" + (f", exported to {csv}" if csv else ""))
    if csv:
        csv.write_text(security.audit.to_csv(found), encoding="utf-8")
        typer.echo(f"{len(found)} entries written to {csv}")
        return
    for e in found:
        typer.echo(f"{e.seq:>8} {e.at} {e.actor:16s} {e.role:14s} {e.action:18s} {e.outcome:7s} {e.org_id:12s} "
                   f"{e.object} {e.detail}")


@audit_app.command("checkpoint")
def checkpoint(lake: LakeOption = None) -> None:
    """Sign the log's current root now (also done every N entries, see the policy)."""
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        if not principal.may("operate_system"):
            security.require(principal, "read_audit", object="audit checkpoint")
        signed = security.audit.checkpoint()
    typer.echo(f"checkpoint at {signed.tree_size:,} entries: root {signed.root_hash}")


@audit_app.command("public-key")
def public_key_command(lake: LakeOption = None) -> None:
    """Print the public key that verifies the checkpoints (give it to whoever checks the log)."""
    security = _security(lake)
    with security:
        typer.echo(security.audit.keys.public_pem(), nl=False)


@audit_app.command("archive")
def archive(before: Annotated[str, typer.Option(help="Archive entries older than this UTC date (YYYY-MM-DD).")],
            to: Annotated[Path, typer.Option(help="Folder for the archive file.")], lake: LakeOption = None) -> None:
    """Copy old entries to a gzipped JSON-lines file (they stay in the log: nothing is dropped)."""
    try:
        cutoff = datetime.fromisoformat(before).replace(tzinfo=timezone.utc)
    except ValueError:
        raise typer.BadParameter("give a date as YYYY-MM-DD", param_hint="--before") from None
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.require(principal, "read_audit", object="audit log")
        target = security.audit.archive(cutoff, to)
        security.record(principal, "read_audit", object="audit log", detail=f"archived to {target}")
    typer.echo(f"archived to {target}" if target else "nothing older than that")
