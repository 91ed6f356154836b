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
from .common import LakeOption, clean_errors, fail, say, settings_from, t, typer_app

security_app = typer_app("help_security")
audit_app = typer_app("help_audit")

UserArgument = Annotated[str, typer.Argument(help=t("arg_user"))]


def _security(lake):
    from ..security import Security, StoreError

    try:
        return Security.open(settings_from(lake))
    except StoreError as error:
        fail(error)


# ------------------------------------------------------------------------------ session
def login(
    lake: LakeOption = None,
    user: Annotated[Optional[str], typer.Option("--user", help=t("opt_user"))] = None,
) -> None:
    from ..security import LoginRefused, SessionInvalid

    username = user or typer.prompt(t("prompt_user"))
    password = typer.prompt(t("prompt_password"), hide_input=True)
    security = _security(lake)
    try:
        with clean_errors():
            try:
                code = typer.prompt(t("prompt_code"), default="", show_default=False) \
                    if _needs_code(security, username) else None
                result = security.sessions.login(username, password, code, source="cli")
            except LoginRefused as refused:
                fail(refused)
            path = save_token(security.settings, result.token)
            if result.must_change:
                say("must_change")
                new = typer.prompt(t("prompt_new_password"), hide_input=True, confirmation_prompt=True)
                try:
                    security.sessions.change_password(result.token, password, new, source="cli")
                except (LoginRefused, SessionInvalid) as refused:
                    fail(refused)
            say("logged_in", user=result.principal.username, roles=", ".join(result.principal.roles) or t("no_role"),
                path=path)
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
    settings = settings_from(lake)
    token = saved_token(settings)
    if token:
        security = _security(lake)
        try:
            security.sessions.logout(token, source="cli")
        finally:
            security.close()
        session_file(settings).unlink(missing_ok=True)
    say("logged_out")


def whoami(lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (_, principal):
        grants = [t("role_on", role=g.role, org=g.org_id) for g in principal.grants]
        typer.echo(f"{principal.username} ({principal.display_name}): "
                   + (principal.admin_role or ", ".join(grants) or t("no_role")))


def password(lake: LakeOption = None) -> None:
    from ..security import LoginRefused

    token = saved_token(settings_from(lake))
    if not token:
        fail(t("password_not_logged_in"))
    old = typer.prompt(t("prompt_current_password"), hide_input=True)
    new = typer.prompt(t("prompt_new_password"), hide_input=True, confirmation_prompt=True)
    security = _security(lake)
    try:
        with clean_errors():
            try:
                security.sessions.change_password(token, old, new, source="cli")
            except LoginRefused as refused:
                fail(refused)
        say("password_changed")
    finally:
        security.close()


# ------------------------------------------------------------------------------ the triad
@security_app.command("init", help=t("help_security_init"))
def init(lake: LakeOption = None) -> None:
    from ..security import Security, StoreError

    try:
        security, created = Security.init(settings_from(lake))
    except StoreError as error:
        fail(error)
    with security:
        say("security_created", store=security.store.location.display, key=security.audit.keys.key_id)
        say("security_admins")
        for account in created:
            say("security_admin_line", user=account.username, password=account.one_time_password, uri=account.totp_uri())


def _print_accounts(accounts) -> None:
    for a in accounts:
        state = (t("account_disabled") if a.disabled else t("account_locked", until=a.locked_until) if a.locked_until
                 else t("account_active"))
        roles = a.admin_role or ", ".join(f"{r}@{o}" for r, o in a.grants) or "-"
        typer.echo(f"{a.username:24s} {state:28s} {roles}" + ("  " + t("account_must_change") if a.must_change else ""))


@security_app.command("users", help=t("help_security_users"))
def users(lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        _print_accounts(security.admin.accounts(principal))


@security_app.command("add-user", help=t("help_security_add_user"))
def add_user(username: UserArgument, display_name: Annotated[str, typer.Option("--name", help=t("opt_full_name"))] = "",
             lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        account = security.admin.create_user(principal, username, display_name or username)
        say("user_created", user=account.username, password=account.one_time_password)


@security_app.command("disable", help=t("help_security_disable"))
def disable(username: UserArgument, lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.set_disabled(principal, username, True)
        say("user_disabled", user=username)


@security_app.command("enable", help=t("help_security_enable"))
def enable(username: UserArgument, lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.set_disabled(principal, username, False)
        say("user_enabled", user=username)


@security_app.command("unlock", help=t("help_security_unlock"))
def unlock(username: UserArgument, lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.unlock(principal, username)
        say("user_unlocked", user=username)


@security_app.command("reset-password", help=t("help_security_reset_password"))
def reset_password(username: UserArgument, lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        say("password_reset", user=username, password=security.admin.reset_password(principal, username))


@security_app.command("grant", help=t("help_security_grant"))
def grant(username: UserArgument, role: Annotated[str, typer.Argument(help=t("arg_role"))],
          org: Annotated[str, typer.Argument(help=t("arg_org_subtree"))], lake: LakeOption = None) -> None:
    from ..accounting import views
    from ..lake import Lake

    settings = settings_from(lake)
    with Lake.open(settings, read_only=True) as opened:
        known = set(views.org_tree(opened).org_id)
    with acting(settings) as (security, principal), clean_errors():
        security.admin.grant(principal, username, role, org, known)
        say("granted", user=username, role=role, org=org)


@security_app.command("revoke", help=t("help_security_revoke"))
def revoke(username: UserArgument, role: Annotated[str, typer.Argument(help=t("arg_role"))],
           org: Annotated[str, typer.Argument(help=t("arg_org_subtree"))], lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.revoke(principal, username, role, org)
        say("revoked", user=username, role=role, org=org)


@security_app.command("admin-role", help=t("help_security_admin_role"))
def admin_role(username: UserArgument, role: Annotated[str, typer.Argument(help=t("arg_admin_role"))],
               lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.admin.set_admin_role(principal, username, None if role == "none" else role)
        say("admin_role_set", user=username, role=role)


@security_app.command("policy", help=t("help_security_policy"))
def policy(settings_to_change: Annotated[Optional[list[str]], typer.Argument(help=t("arg_policy"))] = None,
           lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        current = security.policy
        if settings_to_change:
            pairs = dict(item.split("=", 1) for item in settings_to_change if "=" in item)
            if len(pairs) != len(settings_to_change):
                fail(t("policy_syntax"))
            current = security.admin.set_policy(principal, **pairs)
        typer.echo(json.dumps(json.loads(current.to_json()), indent=2))


@security_app.command("roles", help=t("help_security_roles"))
def roles() -> None:
    from ..security import DESCRIPTIONS

    for role, text in DESCRIPTIONS.items():
        typer.echo(f"{role:18s} {text}")


# ------------------------------------------------------------------------------ the auditor
@audit_app.command("verify", help=t("help_audit_verify"))
def verify(lake: LakeOption = None,
           public_key: Annotated[Optional[Path], typer.Option("--public-key", help=t("opt_public_key"))] = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.require(principal, "read_audit", object="audit log")
        result = security.audit.verify(public_key.read_text() if public_key else None)
        security.record(principal, "read_audit", object="audit log", outcome="ok" if result.ok else "failed",
                        detail=f"verify: {result.problem or 'intact'}")
    say("audit_verified", entries=result.entries, checkpoints=result.checkpoints, last=result.last_checkpoint,
        result=t("audit_intact") if result.ok else result.problem)
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("search", help=t("help_audit_search"))
def search(
    lake: LakeOption = None,
    since: Annotated[Optional[str], typer.Option(help=t("opt_since"))] = None,
    until: Annotated[Optional[str], typer.Option(help=t("opt_until"))] = None,
    actor: Annotated[Optional[str], typer.Option(help=t("opt_actor"))] = None,
    action: Annotated[Optional[str], typer.Option(help=t("opt_action"))] = None,
    org: Annotated[Optional[str], typer.Option(help=t("opt_org"))] = None,
    outcome: Annotated[Optional[str], typer.Option(help=t("opt_outcome"))] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help=t("opt_limit"))] = 100,
    csv: Annotated[Optional[Path], typer.Option("--csv", help=t("opt_csv"))] = None,
) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.require(principal, "read_audit", object="audit log")
        found = security.audit.entries(since=since, until=until, actor=actor, action=action, org_id=org,
                                       outcome=outcome, limit=limit)
        security.record(principal, "read_audit", object="audit log",
                        detail=f"search: {len(found)} entries" + (f", exported to {csv}" if csv else ""))
    if csv:
        csv.write_text(security.audit.to_csv(found), encoding="utf-8")
        say("audit_exported", count=len(found), path=csv)
        return
    for e in found:
        typer.echo(f"{e.seq:>8} {e.at} {e.actor:16s} {e.role:14s} {e.action:18s} {e.outcome:7s} {e.org_id:12s} "
                   f"{e.object} {e.detail}")


@audit_app.command("checkpoint", help=t("help_audit_checkpoint"))
def checkpoint(lake: LakeOption = None) -> None:
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        if not principal.may("operate_system"):
            security.require(principal, "read_audit", object="audit checkpoint")
        signed = security.audit.checkpoint()
    say("audit_checkpoint", size=signed.tree_size, root=signed.root_hash)


@audit_app.command("public-key", help=t("help_audit_public_key"))
def public_key_command(lake: LakeOption = None) -> None:
    security = _security(lake)
    with security:
        typer.echo(security.audit.keys.public_pem(), nl=False)


@audit_app.command("archive", help=t("help_audit_archive"))
def archive(before: Annotated[str, typer.Option(help=t("opt_before"))],
            to: Annotated[Path, typer.Option(help=t("opt_to"))], lake: LakeOption = None) -> None:
    try:
        cutoff = datetime.fromisoformat(before).replace(tzinfo=timezone.utc)
    except ValueError:
        raise typer.BadParameter(t("give_date"), param_hint="--before") from None
    with acting(settings_from(lake)) as (security, principal), clean_errors():
        security.require(principal, "read_audit", object="audit log")
        target = security.audit.archive(cutoff, to)
        security.record(principal, "read_audit", object="audit log", detail=f"archived to {target}")
    if target:
        say("audit_archived", path=target)
    else:
        say("audit_nothing")
