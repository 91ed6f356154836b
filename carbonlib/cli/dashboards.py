"""``carbon dashboards``: serve the Voila views and the Panel apps on the loopback interface.

The servers run in this process (stopping the command stops them and their kernels), read
the lake of ``CARBON_LAKE`` / ``--lake``, bind 127.0.0.1 only and send security headers
(:mod:`carbonlib.viz.serve`); put a reverse proxy with real authentication in front before
exposing them (the security issue).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import LakeOption, clean_errors, fail, language, settings_from, t, typer_app

dashboards_app = typer_app("help_dashboards")

HOST = "127.0.0.1"
DEFAULT_DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
PANEL_APPS = ("monitor.py", "explorer.py", "overview.py", "screen.py", "devices.py", "ledger.py", "registry.py", "admin.py",
              "audit.py", "status.py")
VOILA_NOTEBOOKS = ("overview.ipynb", "disclosure.ipynb", "registry_public.ipynb")

FolderOption = Annotated[Path, typer.Option("--dashboards", help=t("opt_dashboards"))]
CertOption = Annotated[Optional[Path], typer.Option("--certfile", help=t("opt_certfile"))]
KeyOption = Annotated[Optional[Path], typer.Option("--keyfile", help=t("opt_keyfile"))]
PortOption = Annotated[int, typer.Option(help=t("opt_port"), min=1, max=65535)]


def _folder(folder: Path, names: tuple[str, ...]) -> Path:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise typer.BadParameter(t("dashboards_missing", folder=folder, missing=", ".join(missing)), param_hint="--dashboards")
    return folder.resolve()


def voila_command(folder: Path, port: int, pool_size: int = 2) -> list[str]:
    """argv of ``carbon dashboards voila`` for ``folder`` with ``pool_size`` preheated kernels per notebook."""
    return [sys.executable, "-m", "carbonlib", "dashboards", "voila", "--port", str(port), "--pool-size",
            str(pool_size), "--dashboards", str(folder)]


def panel_command(folder: Path, port: int) -> list[str]:
    """argv of ``carbon dashboards panel`` serving the monitor, explorer and overview apps in ``folder``."""
    return [sys.executable, "-m", "carbonlib", "dashboards", "panel", "--port", str(port), "--dashboards", str(folder)]


@dashboards_app.command("voila", help=t("help_dashboards_voila"))
def voila(
    lake: LakeOption = None,
    port: PortOption = 8866,
    pool_size: Annotated[int, typer.Option("--pool-size", min=1, help=t("opt_pool_size"))] = 2,
    dashboards: FolderOption = DEFAULT_DASHBOARDS,
    certfile: CertOption = None,
    keyfile: KeyOption = None,
) -> None:
    from ..viz import serve

    folder = _folder(dashboards, VOILA_NOTEBOOKS)
    _security_ready(lake)
    settings = settings_from(lake)
    serve.lake_environment(settings.lake)
    scheme = "https" if certfile else "http"
    _print_pages(scheme, port, (("login", "login"), ("overview", "voila/render/overview.ipynb"),
                                ("disclosure", "voila/render/disclosure.ipynb"),
                                ("credits", "voila/render/registry_public.ipynb"), ("health", "health")))
    with clean_errors(), _serving(settings, "voila", port, scheme):
        serve.serve_voila(folder, port, pool_size, HOST, certfile=certfile, keyfile=keyfile)


@dashboards_app.command("panel", help=t("help_dashboards_panel"))
def panel(
    lake: LakeOption = None,
    port: PortOption = 5006,
    dashboards: FolderOption = DEFAULT_DASHBOARDS,
    certfile: CertOption = None,
    keyfile: KeyOption = None,
) -> None:
    from ..viz import serve

    folder = _folder(dashboards, PANEL_APPS)
    _security_ready(lake)
    settings = settings_from(lake)
    serve.lake_environment(settings.lake)
    scheme = "https" if certfile else "http"
    _print_pages(scheme, port, (("login", "login"), ("monitor", "monitor"), ("explorer", "explorer"),
                                ("overview", "overview"), ("screen", "screen"), ("devices", "devices"),
                                ("ledger", "ledger"), ("registry", "registry"), ("admin", "admin"), ("audit", "audit"),
                                ("status", "status"), ("health", "health")))
    with clean_errors(), _serving(settings, "panel", port, scheme):
        serve.serve_panel([folder / app for app in PANEL_APPS], port, HOST, certfile=certfile, keyfile=keyfile)


@contextmanager
def _serving(settings, kind: str, port: int, scheme: str) -> Iterator[None]:
    """While the server runs: registered for ``carbon health`` (:func:`carbonlib.ops.health.registered`), and
    SIGTERM (systemd's stop, ``kill``) ends it like Ctrl-C, so the registration goes and kernels shut down."""
    from ..ops import health

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with health.registered(settings, kind, HOST, port, scheme):
            yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_pages(scheme: str, port: int, pages: tuple[tuple[str, str], ...]) -> None:
    """One line per page: its name and address, in the command line's language (the pages take ?lang= too)."""
    lang = language()
    names = {page: t(f"page_{page}") for page, _ in pages}
    width = max(len(name) for name in names.values()) + 2
    for page, path in pages:
        query = "" if page in ("login", "health") else f"?lang={lang}"
        typer.echo(f"{names[page] + ':':{width}s}{scheme}://{HOST}:{port}/{path}{query}")


def _security_ready(lake) -> None:
    """Refuse to serve without a security store (nobody could log in)."""
    from ..security import Security, StoreError

    try:
        Security.open(settings_from(lake)).close()
    except StoreError as error:
        fail(error)
