"""``carbon dashboards``: serve the Voila views and the Panel apps on the loopback interface.

Wire into the main CLI with ``app.add_typer(dashboards_app, name="dashboards")``.  Both
servers read the lake of ``CARBON_LAKE`` / ``--lake`` and bind 127.0.0.1 only; put a reverse
proxy with real authentication in front before exposing them (the security issue).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from .common import LakeOption
from ..settings import load_settings

dashboards_app = typer.Typer(help="Serve the dashboards (Voila views, Panel apps) on 127.0.0.1.", no_args_is_help=True)

HOST = "127.0.0.1"
DEFAULT_DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
PANEL_APPS = ("monitor.py", "explorer.py", "overview.py")
VOILA_NOTEBOOKS = ("overview.ipynb", "disclosure.ipynb")

FolderOption = Annotated[Path, typer.Option("--dashboards", help="Folder holding the dashboard files.")]


def _folder(folder: Path, names: tuple[str, ...]) -> Path:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise typer.BadParameter(f"{folder} lacks {', '.join(missing)}; point --dashboards at the repository's "
                                 "dashboards/ folder", param_hint="--dashboards")
    return folder.resolve()


def voila_command(folder: Path, port: int, pool_size: int = 2) -> list[str]:
    """argv of a Voila server for ``folder`` with ``pool_size`` preheated kernels per notebook."""
    return [sys.executable, "-m", "voila", str(folder), "--no-browser", f"--Voila.ip={HOST}", f"--port={port}",
            "--preheat_kernel=True", f"--pool_size={pool_size}",
            "--VoilaConfiguration.http_header_envs=['X-Carbon-Viewer']"]


def panel_command(folder: Path, port: int) -> list[str]:
    """argv of ``panel serve`` for the monitor and explorer apps in ``folder``."""
    return [sys.executable, "-m", "panel", "serve", *(str(folder / app) for app in PANEL_APPS), "--address", HOST,
            "--port", str(port), "--allow-websocket-origin", f"{HOST}:{port}",
            "--allow-websocket-origin", f"localhost:{port}"]


def _run(argv: list[str], lake: Path | None) -> None:
    env = dict(os.environ, CARBON_LAKE=str(load_settings(lake=lake).lake.resolve()))
    raise typer.Exit(subprocess.call(argv, env=env))


@dashboards_app.command("voila")
def voila(
    lake: LakeOption = None,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.")] = 8866,
    pool_size: Annotated[int, typer.Option("--pool-size", min=1, help="Preheated kernels per notebook.")] = 2,
    dashboards: FolderOption = DEFAULT_DASHBOARDS,
) -> None:
    """Managers' overview and public disclosure: http://127.0.0.1:PORT/voila/render/overview.ipynb?viewer=province-admin"""
    folder = _folder(dashboards, VOILA_NOTEBOOKS)
    typer.echo(f"overview:   http://{HOST}:{port}/voila/render/overview.ipynb?viewer=province-admin&lang=en\n"
               f"disclosure: http://{HOST}:{port}/voila/render/disclosure.ipynb?lang=en")
    _run(voila_command(folder, port, pool_size), lake)


@dashboards_app.command("panel")
def panel(
    lake: LakeOption = None,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.")] = 5006,
    dashboards: FolderOption = DEFAULT_DASHBOARDS,
) -> None:
    """Real-time monitor, analyst explorer and the overview as a Panel app: http://127.0.0.1:PORT/monitor?viewer=province-admin"""
    folder = _folder(dashboards, PANEL_APPS)
    typer.echo(f"monitor:  http://{HOST}:{port}/monitor?viewer=province-admin&lang=en\n"
               f"explorer: http://{HOST}:{port}/explorer?viewer=analyst&lang=en\n"
               f"overview: http://{HOST}:{port}/overview?viewer=province-admin&lang=en")
    _run(panel_command(folder, port), lake)
