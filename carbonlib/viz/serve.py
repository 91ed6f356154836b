"""Run the dashboard servers in this process: Panel apps and Voila views, behind the login, with security headers.

``carbon dashboards panel|voila`` call these directly (no wrapper process: stopping the
command stops the server).  Both servers mount the login, password and logout pages of
:mod:`.auth` and know who is logged in from the session cookie; every response carries
:data:`SECURITY_HEADERS` (no framing by other sites, no content sniffing).  They bind
127.0.0.1 by default and serve HTTPS when given a certificate and key (the session cookie
is then ``Secure``).  Both answer ``GET /health`` (:class:`HealthHandler`) for load balancers and
monitors, without login: statuses only, the details are on the status page.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from tornado.ioloop import IOLoop
from tornado.web import OutputTransform, RequestHandler

HOST = "127.0.0.1"
#: Seconds a Voila kernel may sit idle with no page connected before it is shut down (pages that
#: closed without their shutdown beacon, a browser that crashed), and how often that is checked.
KERNEL_IDLE_TIMEOUT_S = 300
KERNEL_CULL_INTERVAL_S = 60
#: Where the Voila server serves Panel's ``dist`` files (``<PANEL_FILES><version>/dist/…``), instead of cdn.holoviz.org.
PANEL_FILES = "/panel-files/"
#: Jupyter data folder holding the Voila page template :data:`VOILA_TEMPLATE` (``voila/templates/carbon``).
TEMPLATES = Path(__file__).resolve().parent / "jupyter"
VOILA_TEMPLATE = "carbon"
#: Headers every dashboard response carries.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders(OutputTransform):
    """Tornado output transform adding :data:`SECURITY_HEADERS` to every response of the Panel server."""

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        for name, value in SECURITY_HEADERS.items():
            headers[name] = value
        return status_code, headers, chunk


#: Seconds a health report is reused by ``GET /health`` (a monitor polling every few seconds costs one check).
HEALTH_CACHE_S = 15
_health_lock = threading.Lock()
_health_cache: list = []  # [(monotonic time, HealthReport)]


def cached_health():
    """The platform's health (:func:`carbonlib.ops.health.check_health` on this process's settings), at most
    :data:`HEALTH_CACHE_S` old; one check at a time."""
    from ..ops import health
    from ..settings import load_settings

    with _health_lock:
        if not _health_cache or time.monotonic() - _health_cache[0][0] > HEALTH_CACHE_S:
            _health_cache[:] = [(time.monotonic(), health.check_health(load_settings()))]
        return _health_cache[0][1]


class HealthHandler(RequestHandler):
    """``GET /health``: overall status and each check's name and status as JSON; HTTP 503 when a check fails.

    No login (load balancers and monitors poll it), so no details: messages and figures are on the
    status page, for the system administrator."""

    async def get(self) -> None:
        report = await IOLoop.current().run_in_executor(None, cached_health)
        self.set_status(503 if report.status == "fail" else 200)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.finish(json.dumps(report.to_dict(details=False)))


def tls_context(certfile: Path | None, keyfile: Path | None):
    """An SSL context for HTTPS from a PEM certificate and key, or None for plain HTTP."""
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        raise ValueError("HTTPS needs both a certificate (--certfile) and its key (--keyfile)")
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certfile), str(keyfile))
    return context


def serve_panel(apps: list[Path], port: int, address: str = HOST, *, certfile: Path | None = None,
                keyfile: Path | None = None) -> None:
    """Serve the Panel app files ``apps`` (URL path = file stem) behind the login until the process is stopped."""
    import panel as pn

    from .auth import PasswordHandler, panel_auth

    tls = {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)} if tls_context(certfile, keyfile) else {}
    pn.serve({app.stem: str(app) for app in apps}, port=port, address=address, show=False,
             websocket_origin=[f"{address}:{port}", f"localhost:{port}"], transforms=[SecurityHeaders],
             auth_provider=panel_auth(), extra_patterns=[("/password", PasswordHandler), ("/health", HealthHandler)],
             **tls)


#: Seconds a Voila kernel may sit idle with no page connected before it is shut down (pages that
#: closed without their shutdown beacon, a browser that crashed), and how often that is checked.
KERNEL_IDLE_TIMEOUT_S = 300
KERNEL_CULL_INTERVAL_S = 60
#: Where the Voila server serves Panel's ``dist`` files (``<PANEL_FILES><version>/dist/…``), instead of cdn.holoviz.org.
PANEL_FILES = "/panel-files/"
#: Jupyter data folder holding the Voila page template :data:`VOILA_TEMPLATE` (``voila/templates/carbon``).
TEMPLATES = Path(__file__).resolve().parent / "jupyter"
VOILA_TEMPLATE = "carbon"


def voila_argv(folder: Path, port: int, pool_size: int, address: str = HOST) -> list[str]:
    """Command-line arguments of the Voila server for the notebooks in ``folder`` (preheated kernels, login).

    The rest of its configuration is :func:`voila_config`.
    """
    return [str(folder), "--no-browser", f"--Voila.ip={address}", f"--port={port}", "--preheat_kernel=True",
            f"--pool_size={pool_size}",
            "--Voila.identity_provider_class=carbonlib.viz.serve.VoilaIdentity",
            "--Voila.authorizer_class=carbonlib.viz.serve.VoilaAuthorizer"]


def voila_config(*, secure: bool = False):
    """Voila's configuration beyond :func:`voila_argv`: headers, the kernel's view of the request, kernel clean-up.

    * The request's ``Cookie`` header is forwarded to the kernel (``HTTP_COOKIE``): the
      notebook resolves the principal from the session cookie in it.
    * Every response carries :data:`SECURITY_HEADERS`.
    * A page's kernel shuts down when the page closes: its ``beforeunload`` beacon carries the
      ``_xsrf`` cookie that :class:`VoilaIdentity` sets (readable by the page's script,
      ``SameSite=Strict``, ``Secure`` when ``secure``, i.e. served over TLS).  Kernels idle for
      :data:`KERNEL_IDLE_TIMEOUT_S` with no page connected are culled (a crashed browser).
    """
    from traitlets.config import Config

    config = Config()
    config.VoilaConfiguration.http_header_envs = ["Cookie"]
    config.Voila.tornado_settings = {
        "headers": dict(SECURITY_HEADERS),
        "xsrf_cookie_kwargs": {"samesite": "Strict", "path": "/", "expires_days": None,
                               **({"secure": True} if secure else {})},
    }
    config.MappingKernelManager.cull_idle_timeout = KERNEL_IDLE_TIMEOUT_S
    config.MappingKernelManager.cull_interval = KERNEL_CULL_INTERVAL_S
    config.VoilaConfiguration.template = VOILA_TEMPLATE
    return config


def offline_environment(origin: str) -> None:
    """Point this process and the kernels it starts at local copies of every page resource (no CDN).

    * ``PANEL_CDN_ROOT``: Panel builds its style sheet addresses from it when imported (in the
      kernels); ``<origin>``:data:`PANEL_FILES` of this server serves them from Panel's own
      ``dist`` folder.  Panel inlines its scripts only for an absolute address, hence the origin
      (``http://127.0.0.1:8866``).  Behind a reverse proxy, set ``PANEL_CDN_ROOT`` to the public
      address of ``/panel-files/`` yourself: it is kept.
    * ``JUPYTER_PATH`` gains :data:`TEMPLATES`, where Voila finds the :data:`VOILA_TEMPLATE`
      template (the lab page without its font-awesome links to cdn.jsdelivr.net).
    """
    os.environ.setdefault("PANEL_CDN_ROOT", origin + PANEL_FILES)
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(TEMPLATES) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(TEMPLATES), *paths])


def _panel_dist() -> Path:
    import panel

    return Path(panel.__file__).parent / "dist"


def serve_voila(folder: Path, port: int, pool_size: int, address: str = HOST, *, certfile: Path | None = None,
                keyfile: Path | None = None) -> None:
    """Serve the Voila notebooks of ``folder`` until the process is stopped (kernels shut down with it)."""
    from voila.app import Voila

    from tornado.web import StaticFileHandler

    context = tls_context(certfile, keyfile)
    offline_environment(f"{'https' if context else 'http'}://{address}:{port}")

    class CarbonVoila(Voila):
        """Voila listening on one port, with TLS when given (Voila itself has no certificate option), serving
        Panel's style sheets and fonts itself (:func:`offline_environment`)."""

        def init_handlers(self) -> list:
            return [(PANEL_FILES + r"[^/]+/dist/(.*)", StaticFileHandler, {"path": str(_panel_dist())}),
                    (r"/health", HealthHandler), *super().init_handlers()]

        def listen(self) -> None:
            import tornado.ioloop

            self.app.listen(self.port, self.ip, ssl_options=context)
            self.log.info("Voila is running at %s://%s:%s/", "https" if context else "http", self.ip, self.port)
            self.ioloop = tornado.ioloop.IOLoop.current()
            try:
                self.ioloop.start()
            finally:
                self.stop()

    CarbonVoila.launch_instance(argv=voila_argv(folder, port, pool_size, address),
                                config=voila_config(secure=context is not None))


def __getattr__(name: str):
    """``VoilaIdentity`` and ``VoilaAuthorizer``: imported by Voila from its configuration, by dotted name."""
    from . import auth

    if name == "VoilaIdentity":
        return auth.voila_identity_class()
    if name == "VoilaAuthorizer":
        return auth.voila_authorizer_class()
    raise AttributeError(name)


def lake_environment(lake: Path) -> None:
    """Point this process (and the kernels it starts) at ``lake``."""
    os.environ["CARBON_LAKE"] = str(lake.resolve())
