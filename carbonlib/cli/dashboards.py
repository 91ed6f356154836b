"""``carbon dashboards``: serve the Voila views and the Panel apps on the loopback interface.

The servers run in this process (stopping the command stops them and their kernels), read
the lake of ``CARBON_LAKE`` / ``--lake``, bind 127.0.0.1 only and send security headers
(:mod:`carbonlib.viz.serve`); put a reverse proxy with real authentication in front before
exposing them (the security issue).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .common import LakeOption, settings_from

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
) -> None:
    """Managers' overview and public disclosure: http://127.0.0.1:PORT/voila/render/overview.ipynb?viewer=province-admin"""
    from ..viz import serve

    folder = _folder(dashboards, VOILA_NOTEBOOKS)
    serve.lake_environment(settings_from(lake).lake)
    typer.echo(f"overview:   http://{HOST}:{port}/voila/render/overview.ipynb?viewer=province-admin&lang=en\n"
               f"disclosure: http://{HOST}:{port}/voila/render/disclosure.ipynb?lang=en")
    serve.serve_voila(folder, port, pool_size, HOST)


@dashboards_app.command("panel")
def panel(
    lake: LakeOption = None,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.", min=1, max=65535)] = 5006,
    dashboards: FolderOption = DEFAULT_DASHBOARDS,
) -> None:
    """Real-time monitor, analyst explorer and the overview as a Panel app: http://127.0.0.1:PORT/monitor?viewer=province-admin"""
    from ..viz import serve

    folder = _folder(dashboards, PANEL_APPS)
    serve.lake_environment(settings_from(lake).lake)
    typer.echo(f"monitor:  http://{HOST}:{port}/monitor?viewer=province-admin&lang=en\n"
               f"explorer: http://{HOST}:{port}/explorer?viewer=analyst&lang=en\n"
               f"overview: http://{HOST}:{port}/overview?viewer=province-admin&lang=en")
    serve.serve_panel([folder / app for app in PANEL_APPS], port, HOST)
