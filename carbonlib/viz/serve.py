"""Run the dashboard servers in this process: Panel apps and Voila views, on loopback, with security headers.

``carbon dashboards panel|voila`` call these directly (no wrapper process: stopping the
command stops the server).  Every response carries :data:`SECURITY_HEADERS`: the pages
cannot be framed by another site (clickjacking), content types are not sniffed.  Binding
defaults to 127.0.0.1; put an authenticating reverse proxy in front to publish further.
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


def serve_panel(apps: list[Path], port: int, address: str = HOST) -> None:
    """Serve the Panel app files ``apps`` (URL path = file stem) until the process is stopped."""
    import panel as pn

    pn.serve({app.stem: str(app) for app in apps}, port=port, address=address, show=False,
             websocket_origin=[f"{address}:{port}", f"localhost:{port}"], transforms=[SecurityHeaders])


def voila_argv(folder: Path, port: int, pool_size: int, address: str = HOST) -> list[str]:
    """Command-line arguments of the Voila server for the notebooks in ``folder`` (preheated kernels, headers)."""
    settings = {"headers": SECURITY_HEADERS}
    return [str(folder), "--no-browser", f"--Voila.ip={address}", f"--port={port}", "--preheat_kernel=True",
            f"--pool_size={pool_size}", "--VoilaConfiguration.http_header_envs=['X-Carbon-Viewer']",
            f"--Voila.tornado_settings={json.dumps(settings)}"]


def serve_voila(folder: Path, port: int, pool_size: int, address: str = HOST) -> None:
    """Serve the Voila notebooks of ``folder`` until the process is stopped (kernels shut down with it)."""
    from voila.app import Voila

    Voila.launch_instance(argv=voila_argv(folder, port, pool_size, address))


def lake_environment(lake: Path) -> None:
    """Point this process (and the kernels it starts) at ``lake``."""
    os.environ["CARBON_LAKE"] = str(lake.resolve())
