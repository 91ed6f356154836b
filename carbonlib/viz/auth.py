"""Logging in to the dashboards: one login page and one session cookie for the Panel and Voila servers.

* ``/login`` (GET shows the form, POST checks it), ``/password`` (change, required after a
  one-time or expired password) and ``/logout`` (POST) are plain Tornado handlers mounted in
  both servers.  Forms carry a CSRF token (a random value in a ``SameSite=Strict`` cookie and
  in the form, compared in constant time).
* The session cookie ``carbon_session`` holds the session token: ``HttpOnly``,
  ``SameSite=Strict``, ``Secure`` when served over TLS.  Both servers on one host share it.
* Panel: :class:`PanelAuth` (a Bokeh ``AuthProvider``) sends every request without a live
  session to ``/login``; each app then resolves the principal from the cookie and checks it
  again on every user action (:func:`session_principal`).
* Voila: :class:`VoilaIdentity` (a Jupyter Server ``IdentityProvider``) names the logged-in
  user or the anonymous public; the kernel receives the request's cookie (``HTTP_COOKIE``,
  see :mod:`.serve`) and resolves the principal itself (:func:`kernel_principal`) — never
  from a URL parameter or header.  It also hands every page the ``_xsrf`` cookie with which
  the page's closing beacon shuts its kernel down (``/voila/api/shutdown/<kernel>``).  :class:`VoilaAuthorizer` (a Jupyter Server ``Authorizer``)
  lets a page talk to its own kernel (read, execute) and refuses everything else of the
  Jupyter REST API (starting, restarting, interrupting or deleting kernels, contents).
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from http.cookies import SimpleCookie
from urllib.parse import urlparse

from tornado.web import RequestHandler

from ..markup import Markup, html
from ..security import LoginRefused, Principal, Security, SessionInvalid
from ..settings import load_settings
from . import theme
from ..i18n import label

COOKIE = "carbon_session"
CSRF_COOKIE = "carbon_csrf"

_lock = threading.RLock()
_runtime: dict[str, Security] = {}


def security() -> Security:
    """The process's security layer (settings from the environment), shared by its requests."""
    settings = load_settings()
    key = str(settings.lake.resolve())
    with _lock:
        if key not in _runtime:
            _runtime[key] = Security.open(settings)
        return _runtime[key]


def session_principal(token: str | None, source: str, *, touch: bool = True) -> Principal:
    """The principal of a live session (SessionInvalid otherwise); serialised over the shared store connection."""
    with _lock:
        return security().sessions.principal(token, source=source, touch=touch)


def kernel_principal(environ: dict | None = None) -> Principal:
    """The principal of the Voila request this kernel serves, from its forwarded ``Cookie`` header."""
    cookies = SimpleCookie((environ or os.environ).get("HTTP_COOKIE", ""))
    token = cookies[COOKIE].value if COOKIE in cookies else None
    return session_principal(token, source="voila")


def _safe_next(target: str | None) -> str:
    """Only a path on this server may follow a login (no open redirect)."""
    parsed = urlparse(target or "/")
    if parsed.scheme or parsed.netloc or not (parsed.path or "/").startswith("/") or (parsed.path or "").startswith("//"):
        return "/"
    return target or "/"


def _page(title: str, body: Markup, lang: str) -> str:
    return str(html('<!DOCTYPE html><html lang="{}"><head><meta charset="utf-8"><title>{}</title><style>{}'
                    '.carbon-form{{max-width:380px;margin:12vh auto;font-family:system-ui,sans-serif}}'
                    '.carbon-form input{{display:block;width:100%;margin:4px 0 12px;padding:8px;font-size:15px}}'
                    '.carbon-form button{{padding:8px 18px;font-size:15px}}</style></head>'
                    '<body><div class="carbon-form"><h2>{}</h2>{}</div></body></html>',
                    lang, title, Markup(theme.CSS), title, body))


class _FormHandler(RequestHandler):
    """Shared parts of the login, password and logout forms (CSRF, language, messages, headers)."""

    def set_default_headers(self) -> None:
        from .serve import SECURITY_HEADERS

        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.set_header("Cache-Control", "no-store")

    @property
    def lang(self) -> str:
        return "en" if self.get_argument("lang", "zh") == "en" else "zh"

    @property
    def source(self) -> str:
        return self.request.remote_ip or "unknown"

    def _csrf_field(self) -> Markup:
        token = secrets.token_urlsafe(24)
        self.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=self.request.protocol == "https",
                        path="/")
        return html('<input type="hidden" name="_csrf" value="{}">', token)

    def _csrf_ok(self) -> bool:
        sent, kept = self.get_body_argument("_csrf", ""), self.get_cookie(CSRF_COOKIE, "")
        return bool(sent) and hmac.compare_digest(sent.encode(), kept.encode())

    def _refuse_csrf(self) -> None:
        self.set_status(403)
        self.finish(_page(label("ui_refused", self.lang),
                          html('<p class="carbon-refused" data-testid="refused">{}</p>',
                               "the form is missing its security token (CSRF): reload the page and try again"),
                          self.lang))

    def _set_session(self, token: str) -> None:
        self.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=self.request.protocol == "https",
                        path="/")


class LoginHandler(_FormHandler):
    """``/login``: the form, and the check (password, and a code for administrators)."""

    def get(self) -> None:
        self._show()

    def _show(self, message: str | None = None) -> None:
        lang = self.lang
        note = html('<p class="carbon-refused" data-testid="refused">{}</p>', message) if message else Markup("")
        form = html('{}<form method="post" action="/login?lang={}">{}'
                    '<label>{}<input name="username" autocomplete="username" required></label>'
                    '<label>{}<input name="password" type="password" autocomplete="current-password" required></label>'
                    '<label>{}<input name="code" inputmode="numeric" autocomplete="one-time-code"></label>'
                    '<input type="hidden" name="next" value="{}"><button type="submit">{}</button></form>',
                    note, lang, self._csrf_field(), label("ui_username", lang), label("ui_password", lang),
                    label("ui_code", lang), _safe_next(self.get_argument("next", "/")), label("ui_login", lang))
        self.finish(_page(label("ui_login_title", lang), form, lang))

    def post(self) -> None:
        if not self._csrf_ok():
            return self._refuse_csrf()
        try:
            with _lock:
                result = security().sessions.login(self.get_body_argument("username", ""),
                                                   self.get_body_argument("password", ""),
                                                   self.get_body_argument("code", "") or None, source=self.source)
        except LoginRefused as refused:
            self.set_status(403)
            return self._show(str(refused))
        self._set_session(result.token)
        target = _safe_next(self.get_body_argument("next", "/"))
        if result.must_change:
            return self.redirect(f"/password?lang={self.lang}&next={target}")
        self.redirect(target)


class PasswordHandler(_FormHandler):
    """``/password``: change the password (the only page a one-time or expired password opens)."""

    def get(self) -> None:
        self._show()

    def _show(self, message: str | None = None) -> None:
        lang = self.lang
        note = html('<p class="carbon-refused" data-testid="refused">{}</p>', message) if message else Markup("")
        form = html('{}<form method="post" action="/password?lang={}">{}'
                    '<label>{}<input name="old" type="password" autocomplete="current-password" required></label>'
                    '<label>{}<input name="new" type="password" autocomplete="new-password" required></label>'
                    '<input type="hidden" name="next" value="{}"><button type="submit">{}</button></form>',
                    note, lang, self._csrf_field(), label("ui_old_password", lang), label("ui_new_password", lang),
                    _safe_next(self.get_argument("next", "/")), label("ui_change_password", lang))
        self.finish(_page(label("ui_change_password", lang), form, lang))

    def post(self) -> None:
        if not self._csrf_ok():
            return self._refuse_csrf()
        try:
            with _lock:
                security().sessions.change_password(self.get_cookie(COOKIE, ""), self.get_body_argument("old", ""),
                                                    self.get_body_argument("new", ""), source=self.source)
        except SessionInvalid:
            return self.redirect(f"/login?lang={self.lang}")
        except (LoginRefused, ValueError) as refused:
            self.set_status(403)
            return self._show(str(refused))
        self.redirect(_safe_next(self.get_body_argument("next", "/")))


class LogoutHandler(_FormHandler):
    """``/logout``: GET shows the button, POST (with its CSRF token) ends the session."""

    def get(self) -> None:
        form = html('<form method="post" action="/logout?lang={}">{}<button type="submit">{}</button></form>',
                    self.lang, self._csrf_field(), label("ui_logout", self.lang))
        self.finish(_page(label("ui_logout", self.lang), form, self.lang))

    def post(self) -> None:
        if not self._csrf_ok():
            return self._refuse_csrf()
        token = self.get_cookie(COOKIE)
        if token:
            with _lock:
                security().sessions.logout(token, source=self.source)
        self.clear_cookie(COOKIE, path="/")
        self.redirect(f"/login?lang={self.lang}")


HANDLERS = [("/login", LoginHandler), ("/password", PasswordHandler), ("/logout", LogoutHandler)]


# ---------------------------------------------------------------------------------- Panel (Bokeh)
def panel_auth():
    """The Bokeh auth provider of the Panel server: a live session, or off to ``/login``."""
    from bokeh.server.auth_provider import AuthProvider

    class PanelAuth(AuthProvider):
        @property
        def get_user(self):
            def user(handler: RequestHandler) -> str | None:
                try:
                    return session_principal(handler.get_cookie(COOKIE), handler.request.remote_ip or "unknown",
                                             touch=False).username
                except SessionInvalid:
                    return None
            return user

        @property
        def login_url(self) -> str:
            return "/login"

        @property
        def login_handler(self):
            return LoginHandler

        @property
        def logout_url(self) -> str:
            return "/logout"

        @property
        def logout_handler(self):
            return LogoutHandler

    return PanelAuth()


# ---------------------------------------------------------------------------------- Voila (Jupyter Server)
def voila_identity_class():
    """The Jupyter Server identity provider of the Voila server (see module doc)."""
    from jupyter_server.auth.identity import IdentityProvider, User

    from tornado.websocket import WebSocketHandler

    class VoilaIdentity(IdentityProvider):
        def get_user(self, handler: RequestHandler) -> User:
            try:
                principal = session_principal(handler.get_cookie(COOKIE), handler.request.remote_ip or "unknown",
                                              touch=False)
                user = User(username=principal.username, name=principal.display_name)
            except SessionInvalid:
                user = User(username="anonymous", name="public")
            if handler.request.method == "GET" and not isinstance(handler, WebSocketHandler):
                # Set the _xsrf cookie when missing: the page's closing beacon sends it to shut its kernel
                # down.  Tornado asks for the current user while setting it: known already, so say it.
                handler.current_user = user
                handler.xsrf_token  # noqa: B018
            return user

        def get_handlers(self) -> list:
            return [("/password", PasswordHandler), ("/login", LoginHandler), ("/logout", LogoutHandler)]

        @property
        def auth_enabled(self) -> bool:
            return True

        @property
        def login_available(self) -> bool:
            return True

        def validate_security(self, app, ssl_options=None) -> None:
            """Jupyter's token and password checks do not apply: logins go through the security store."""

    return VoilaIdentity


def voila_authorizer_class():
    """The Jupyter Server authorizer of the Voila server (see module doc)."""
    from jupyter_server.auth.authorizer import Authorizer

    class VoilaAuthorizer(Authorizer):
        def is_authorized(self, handler, user, action: str, resource: str) -> bool:
            return resource == "kernels" and action in ("read", "execute")

    return VoilaAuthorizer
