"""Run the dashboard servers in this process: Panel apps and Voila views, behind the login, with security headers.

``carbon dashboards panel|voila`` call these directly (no wrapper process: stopping the
command stops the server).  Both servers mount the login, password and logout pages of
:mod:`.auth` and know who is logged in from the session cookie; every response carries
:data:`SECURITY_HEADERS` (no framing by other sites, no content sniffing).  They bind
127.0.0.1 by default and serve HTTPS when given a certificate and key (the session cookie
is then ``Secure``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tornado.web import OutputTransform

HOST = "127.0.0.1"
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
             auth_provider=panel_auth(), extra_patterns=[("/password", PasswordHandler)], **tls)


def voila_argv(folder: Path, port: int, pool_size: int, address: str = HOST) -> list[str]:
    """Command-line arguments of the Voila server for the notebooks in ``folder`` (preheated kernels, login, headers).

    The request's ``Cookie`` header is forwarded to the kernel (``HTTP_COOKIE``): the
    notebook resolves the principal from the session cookie in it.
    """
    settings = {"headers": SECURITY_HEADERS}
    return [str(folder), "--no-browser", f"--Voila.ip={address}", f"--port={port}", "--preheat_kernel=True",
            f"--pool_size={pool_size}", "--VoilaConfiguration.http_header_envs=['Cookie']",
            "--Voila.identity_provider_class=carbonlib.viz.serve.VoilaIdentity",
            "--Voila.authorizer_class=carbonlib.viz.serve.VoilaAuthorizer",
            f"--Voila.tornado_settings={json.dumps(settings)}"]


def serve_voila(folder: Path, port: int, pool_size: int, address: str = HOST, *, certfile: Path | None = None,
                keyfile: Path | None = None) -> None:
    """Serve the Voila notebooks of ``folder`` until the process is stopped (kernels shut down with it)."""
    from voila.app import Voila

    context = tls_context(certfile, keyfile)

    class CarbonVoila(Voila):
        """Voila listening on one port, with TLS when given (Voila itself has no certificate option)."""

        def listen(self) -> None:
            import tornado.ioloop

            self.app.listen(self.port, self.ip, ssl_options=context)
            self.log.info("Voila is running at %s://%s:%s/", "https" if context else "http", self.ip, self.port)
            self.ioloop = tornado.ioloop.IOLoop.current()
            try:
                self.ioloop.start()
            finally:
                self.stop()

    CarbonVoila.launch_instance(argv=voila_argv(folder, port, pool_size, address))


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
