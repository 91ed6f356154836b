"""The administrators' pages: accounts and roles (system and security administrators), the audit log (auditor),
the platform status (system administrator).

Each page shows only what its role may do (三员分立): the system administrator creates,
disables, enables and unlocks accounts and resets passwords; the security administrator
grants and revokes roles, names the triad and sets the policy; the auditor searches,
exports and verifies the audit log.  Every button goes through :mod:`carbonlib.security`
as the logged-in principal (checked again and audited), never through the page's own data.
"""

from __future__ import annotations

import io

import pandas as pd
import panel as pn

from ..markup import html as markup
from ..markup import join
from ..security import ADMIN_ROLES, BUSINESS_ROLES, PermissionDenied, Principal, SessionInvalid
from . import auth, theme
from .components import error_page, header, html, run_user_action, set_html, table
from ..i18n import label


class _AdminBase:
    """The logged-in principal, the shared security layer and a notice line; every action re-checks the session."""

    def __init__(self, principal: Principal, lang: str, guard=None):
        self.principal, self.lang, self.guard = principal, lang, guard
        self.notice = html(sizing_mode="stretch_width")
        self.page: pn.Column | None = None

    def _act(self, work) -> None:
        """Run ``work()`` (under the store lock) and show its result or the refusal (:func:`.components.run_user_action`)."""
        run_user_action(self, lambda _principal: markup('<div class="carbon-note" data-testid="done">{}</div>',
                                                        work() or "ok"), self.notice)

    def reload(self) -> None:
        """Redraw what the page shows after an action."""


class AdminPage(_AdminBase):
    """Accounts and roles: what the system administrator and the security administrator do."""

    def __init__(self, principal: Principal, known_orgs: set[str], lang: str = "zh", guard=None):
        super().__init__(principal, lang, guard)
        self.known_orgs = known_orgs
        self.accounts = table(lang, height=320)
        self.user = pn.widgets.TextInput(name="user", width=200)
        self.display = pn.widgets.TextInput(name="name", width=200)
        self.role = pn.widgets.Select(name="role", options=list(BUSINESS_ROLES), width=180)
        self.org = pn.widgets.TextInput(name="org", width=160)
        self.admin_role = pn.widgets.Select(name="administrator role", options=["none", *ADMIN_ROLES], width=180)
        self.policy_key = pn.widgets.TextInput(name="policy setting", width=200)
        self.policy_value = pn.widgets.TextInput(name="value", width=120)
        self.reload()

    def reload(self) -> None:
        with auth._lock:
            accounts = auth.security().admin.accounts(self.principal)
        self.accounts.value = pd.DataFrame({
            "user": [a.username for a in accounts], "name": [a.display_name for a in accounts],
            "state": ["disabled" if a.disabled else f"locked until {a.locked_until}" if a.locked_until else "active"
                      for a in accounts],
            "roles": [a.admin_role or ", ".join(f"{r}@{o}" for r, o in a.grants) or "-" for a in accounts],
            "password": ["must change" if a.must_change else "set" for a in accounts]})

    def _button(self, text: str, work) -> pn.widgets.Button:
        button = pn.widgets.Button(name=text, width=150)
        button.on_click(lambda _event: self._act(work))
        return button

    def layout(self) -> pn.viewable.Viewable:
        admin = auth.security().admin
        p = self.principal
        rows = [html(header(label("ui_admin", self.lang))), self.notice, self.accounts]
        if p.may("manage_accounts"):
            rows.append(pn.Row(self.user, self.display,
                               self._button("create", lambda: "one-time password of {}: {}".format(
                                   *(lambda a: (a.username, a.one_time_password))(admin.create_user(p, self.user.value,
                                                                                                    self.display.value)))),
                               self._button("disable", lambda: admin.set_disabled(p, self.user.value, True)),
                               self._button("enable", lambda: admin.set_disabled(p, self.user.value, False)),
                               self._button("unlock", lambda: admin.unlock(p, self.user.value)),
                               self._button("reset password", lambda: "one-time password: "
                                            + admin.reset_password(p, self.user.value))))
        if p.may("grant_roles"):
            rows.append(pn.Row(self.user, self.role, self.org,
                               self._button("grant", lambda: admin.grant(p, self.user.value, self.role.value,
                                                                         self.org.value.strip(), self.known_orgs)),
                               self._button("revoke", lambda: admin.revoke(p, self.user.value, self.role.value,
                                                                           self.org.value.strip()))))
            rows.append(pn.Row(self.user, self.admin_role,
                               self._button("set administrator role", lambda: admin.set_admin_role(
                                   p, self.user.value, None if self.admin_role.value == "none" else self.admin_role.value))))
            rows.append(pn.Row(self.policy_key, self.policy_value,
                               self._button("set policy", lambda: admin.set_policy(
                                   p, **{self.policy_key.value.strip(): self.policy_value.value.strip()}).to_json())))
        self.page = pn.Column(*rows, sizing_mode="stretch_width")
        return self.page


class AuditPage(_AdminBase):
    """The audit log for the auditor: search by time, actor, action, org and outcome; CSV export; verification."""

    def __init__(self, principal: Principal, lang: str = "zh", guard=None):
        super().__init__(principal, lang, guard)
        self.since = pn.widgets.TextInput(name="since (UTC)", placeholder="2026-12-01", width=160)
        self.until = pn.widgets.TextInput(name="until (UTC)", width=160)
        self.actor = pn.widgets.TextInput(name="actor", width=140)
        self.action = pn.widgets.TextInput(name="action", width=140)
        self.org = pn.widgets.TextInput(name="org", width=120)
        self.outcome = pn.widgets.Select(name="outcome", options=["", "ok", "denied", "failed", "started"], width=110)
        self.entries = table(lang, height=420)
        self.found: list = []
        self.download = pn.widgets.FileDownload(callback=self._csv, filename="audit.csv", label="CSV", embed=False,
                                                auto=True, width=100)
        self.search()

    def _filters(self) -> dict:
        return dict(since=self.since.value or None, until=self.until.value or None, actor=self.actor.value or None,
                    action=self.action.value or None, org_id=self.org.value or None, outcome=self.outcome.value or None)

    def search(self) -> None:
        with auth._lock:
            self.found = auth.security().audit.entries(**self._filters(), limit=2000)
        self.entries.value = pd.DataFrame([e.__dict__ for e in self.found])

    def _csv(self) -> io.BytesIO:
        if self.guard is not None:
            self.guard(True)
        with auth._lock:
            security = auth.security()
            security.record(self.principal, "read_audit", object="audit log",
                            detail=f"CSV export of {len(self.found)} entries")
            return io.BytesIO(security.audit.to_csv(self.found).encode("utf-8-sig"))

    def _verify(self) -> str:
        security = auth.security()
        result = security.audit.verify()
        security.record(self.principal, "read_audit", object="audit log", outcome="ok" if result.ok else "failed",
                        detail=f"verify: {result.problem or 'intact'}")
        return (f"{result.entries:,} entries, {result.checkpoints} signed checkpoints: "
                + ("intact" if result.ok else result.problem))

    def layout(self) -> pn.viewable.Viewable:
        search = pn.widgets.Button(name="search", width=110)
        search.on_click(lambda _event: self._act(lambda: self.search() or f"{len(self.found)} entries"))
        verify = pn.widgets.Button(name="verify", width=110)
        verify.on_click(lambda _event: self._act(self._verify))
        self.page = pn.Column(html(header(label("ui_audit", self.lang))), self.notice,
                              pn.Row(self.since, self.until, self.actor, self.action, self.org, self.outcome),
                              pn.Row(search, self.download, verify), self.entries, sizing_mode="stretch_width")
        return self.page


#: Colours of a check's status on the status page (background, text): green, amber, red.
STATUS_COLOURS = {"ok": ("#dcfce7", "#166534"), "warn": ("#fef3c7", "#92400e"), "fail": ("#fee2e2", "#7f1d1d")}
#: Seconds between two looks of the open status page at the platform.
STATUS_REFRESH_S = 60
STATUS_CSS = """
.carbon-status {border-collapse: collapse; width: 100%; font-family: system-ui, sans-serif; font-size: 13px;}
.carbon-status td, .carbon-status th {border-bottom: 1px solid #e5e7eb; padding: 6px 10px; text-align: left;
  vertical-align: top;}
.carbon-status .state {font-weight: 700; white-space: nowrap; border-radius: 4px; padding: 2px 8px;}
.carbon-status .fix {color: #374151; font-size: 12px;}
.carbon-banner {font-family: system-ui, sans-serif; font-size: 18px; font-weight: 700; padding: 10px 14px;
  border-radius: 6px;}
"""


class StatusPage(_AdminBase):
    """The platform's health for the system administrator (:mod:`carbonlib.ops.health`): a banner with the overall
    status and one row per check with its message and fix; looked at again every :data:`STATUS_REFRESH_S`."""

    def __init__(self, principal: Principal, settings, lang: str = "zh", guard=None):
        super().__init__(principal, lang, guard)
        self.settings = settings
        self.banner = html(stylesheets=(STATUS_CSS,), sizing_mode="stretch_width")
        self.checks = html(stylesheets=(STATUS_CSS,), sizing_mode="stretch_width")
        self.reload()

    def reload(self) -> None:
        from ..ops import health

        report = health.check_health(self.settings)
        lang = self.lang
        back, fore = STATUS_COLOURS[report.status]
        counts = report.counts
        set_html(self.banner, markup(
            '<div class="carbon-banner" data-testid="status" data-status="{}" style="background:{};color:{}">'
            '{}: {} · {} {} · {} {} · {} {} <span class="carbon-note">({})</span></div>',
            report.status, back, fore, label("ui_platform_status", lang), label(f"health_{report.status}", lang),
            counts["ok"], label("health_ok", lang), counts["warn"], label("health_warn", lang), counts["fail"],
            label("health_fail", lang), report.checked_at.strftime("%Y-%m-%d %H:%M:%S UTC")))
        rows = [markup('<tr data-check="{}" data-status="{}"><td>{}</td><td><span class="state" style="background:{};'
                       'color:{}">{}</span></td><td>{}<div class="fix">{}</div></td></tr>',
                       c.name, c.status, c.title(lang), *STATUS_COLOURS[c.status], label(f"health_{c.status}", lang),
                       c.text(lang), c.fix(lang)) for c in report.checks]
        set_html(self.checks, markup('<table class="carbon-status">{}</table>', join("", rows)))

    def layout(self) -> pn.viewable.Viewable:
        again = pn.widgets.Button(name=label("ui_status_refresh", self.lang), width=140)
        again.on_click(lambda _event: self._act(lambda: None))
        self.page = pn.Column(html(header(label("ui_platform_status", self.lang))), self.banner, again, self.notice,
                              self.checks, sizing_mode="stretch_width")
        pn.state.add_periodic_callback(self.reload, period=STATUS_REFRESH_S * 1000)
        return self.page


def serve_admin_page(kind: str, title: str) -> None:
    """Serve the accounts page (``kind='admin'``), the audit page (``'audit'``) or the platform status
    (``'status'``) to the logged-in administrator."""
    from ..accounting import views
    from ..lake import Lake

    theme.init_panel()
    args = {key: values[0].decode("utf-8", "replace") for key, values in pn.state.session_args.items()}
    lang = "en" if args.get("lang") == "en" else "zh"
    token = pn.state.cookies.get(auth.COOKIE)
    try:
        principal = auth.session_principal(token, "panel")
    except SessionInvalid as ended:
        error_page(str(ended)).servable(title=title)
        return

    def guard(touch: bool) -> Principal:
        return auth.session_principal(token, "panel", touch=touch)

    action = {"audit": "read_audit", "status": "operate_system"}.get(
        kind, "manage_accounts" if principal.may("manage_accounts") else "grant_roles")
    try:
        with auth._lock:
            auth.security().require(principal, action, object=f"{kind} page")
        if kind == "audit":
            page = AuditPage(principal, lang, guard).layout()
        elif kind == "status":
            page = StatusPage(principal, auth.security().settings, lang, guard).layout()
        else:
            with Lake.open(read_only=True) as lake:
                known = set(views.org_tree(lake).org_id)
            page = AdminPage(principal, known, lang, guard).layout()
    except PermissionDenied as refused:
        page = error_page(str(refused))
    page.servable(title=title)
