"""``carbon dashboards``: serve the Voila views and the Panel apps on the loopback interface.

The servers run in this process (stopping the command stops them and their kernels), read
the lake of ``CARBON_LAKE`` / ``--lake``, bind 127.0.0.1 only and send security headers
(:mod:`carbonlib.viz.serve`); put a reverse proxy with real authentication in front before
exposing them (the security issue).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import LakeOption, clean_errors, fail, settings_from

dashboards_app = typer.Typer(help="Serve the dashboards (Voila views, Panel apps) on 127.0.0.1.", no_args_is_help=True)

HOST = "127.0.0.1"
DEFAULT_DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
PANEL_APPS = ("monitor.py", "explorer.py", "overview.py", "screen.py", "admin.py", "audit.py")
VOILA_NOTEBOOKS = ("overview.ipynb", "disclosure.ipynb")

FolderOption = Annotated[Path, typer.Option("--dashboards", help="Folder holding the dashboard files.")]
CertOption = Annotated[Optional[Path], typer.Option("--certfile", help="PEM certificate: serve HTTPS.")]
KeyOption = Annotated[Optional[Path], typer.Option("--keyfile", help="PEM private key of the certificate.")]


def _folder(folder: Path, names: tuple[str, ...]) -> Path:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise typer.BadParameter(f"{folder} lacks {', '.join(missing)}; point --dashboards at the repository's "
                                 "dashboards/ folder", param_hint="--dashboards")
    return folder.resolve()


def voila_command(folder: Path, port: int, pool_size: int = 2) -> list[str]:
    """argv of ``carbon dashboards voila`` for ``folder`` with ``pool_size`` preheated kernels per notebook."""
    return [sys.executable, "-m", "carbonlib", "dashboards", "voila", "--port", str(port), "--pool-size",
            str(pool_size), "--dashboards", str(folder)]


def panel_command(folder: Path, port: int) -> list[str]:
    """argv of ``carbon dashboards panel`` serving the monitor, explorer and overview apps in ``folder``."""
    return [sys.executable, "-m", "carbonlib", "dashboards", "panel", "--port", str(port), "--dashboards", str(folder)]


@dashboards_app.command("voila")
def voila(
    lake: LakeOption = None,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.", min=1, max=65535)] = 8866,
    pool_size: Annotated[int, typer.Option("--pool-size", min=1, help="Preheated kernels per notebook.")] = 2,
    dashboards: FolderOption = DEFAULT_DASHBOARDS,
    certfile: CertOption = None,
    keyfile: KeyOption = None,
) -> None:
    """Managers' overview (login) and public disclosure: http://127.0.0.1:PORT/voila/render/disclosure.ipynb"""
    from ..viz import serve

    folder = _folder(dashboards, VOILA_NOTEBOOKS)
    _security_ready(lake)
    serve.lake_environment(settings_from(lake).lake)
    scheme = "https" if certfile else "http"
    typer.echo(f"log in:     {scheme}://{HOST}:{port}/login\n"
               f"overview:   {scheme}://{HOST}:{port}/voila/render/overview.ipynb?lang=en\n"
               f"disclosure: {scheme}://{HOST}:{port}/voila/render/disclosure.ipynb?lang=en (public)")
    with clean_errors():
        serve.serve_voila(folder, port, pool_size, HOST, certfile=certfile, keyfile=keyfile)


@dashboards_app.command("panel")
def panel(
    lake: LakeOption = None,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.", min=1, max=65535)] = 5006,
    dashboards: FolderOption = DEFAULT_DASHBOARDS,
    certfile: CertOption = None,
    keyfile: KeyOption = None,
) -> None:
    """Monitor, explorer, overview, province screen and the administrators' pages, behind the login: http://127.0.0.1:PORT/login"""
    from ..viz import serve

    folder = _folder(dashboards, PANEL_APPS)
    _security_ready(lake)
    serve.lake_environment(settings_from(lake).lake)
    scheme = "https" if certfile else "http"
    typer.echo("\n".join(f"{name:9s} {scheme}://{HOST}:{port}/{path}" for name, path in (
        ("log in", "login"), ("monitor", "monitor?lang=en"), ("explorer", "explorer?lang=en"),
        ("overview", "overview?lang=en"), ("screen", "screen?lang=en"), ("accounts", "admin?lang=en"),
        ("audit", "audit?lang=en"))))
    with clean_errors():
        serve.serve_panel([folder / app for app in PANEL_APPS], port, HOST, certfile=certfile, keyfile=keyfile)


def _security_ready(lake) -> None:
    """Refuse to serve without a security store (nobody could log in)."""
    from ..security import Security, StoreError

    try:
        Security.open(settings_from(lake)).close()
    except StoreError as error:
        fail(error)
