"""``carbon ingest files``: field data files into the lake (a face over :mod:`carbonlib.ingest.service`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..ingest.readers import FORMATS
from .auth import acting
from .common import JsonOption, LakeOption, clean_errors, say, settings_from, t, typer_app

ingest_app = typer_app("help_ingest")


def _format(value: Optional[str]) -> Optional[str]:
    if value is not None and value not in FORMATS:
        raise typer.BadParameter(t("choose_one_of", choices=", ".join(FORMATS)))
    return value


@ingest_app.command("files", help=t("help_ingest_files"))
def ingest_files(
    paths: Annotated[list[Path], typer.Argument(help=t("arg_ingest_paths"))],
    lake: LakeOption = None,
    file_format: Annotated[Optional[str], typer.Option("--format", callback=_format,
                                                       help=t("opt_ingest_format", formats=", ".join(FORMATS)))] = None,
    device: Annotated[Optional[str], typer.Option("--device", help=t("opt_ingest_device"))] = None,
    mapping: Annotated[Optional[Path], typer.Option("--mapping", help=t("opt_ingest_mapping"))] = None,
    utc_offset: Annotated[Optional[float], typer.Option("--utc-offset", help=t("opt_utc_offset"))] = None,
    progress: Annotated[bool, typer.Option(help=t("opt_progress"))] = True,
    as_json: JsonOption = False,
) -> None:
    from ..ingest import service

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        summaries = service.ingest_files(security, principal, settings, paths, file_format=file_format,
                                         device_id=device, mapping=mapping, utc_offset=utc_offset,
                                         progress=progress and not as_json)
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in summaries], indent=2))
        return
    for summary in summaries:
        _say_summary(summary)
    say("ingest_next")


def _say_summary(summary) -> None:
    say("ingest_summary", path=summary.path, format=summary.format, rows=f"{summary.rows:,}",
        inserted=f"{summary.inserted:,}", skipped=f"{summary.skipped:,}", rejected=f"{summary.rejected:,}",
        missing=f"{summary.missing:,}", first=summary.first or "-", last=summary.last or "-")
    if summary.rejected:
        say("ingest_rejects", source=Path(summary.path).name)


@ingest_app.command("watch", help=t("help_ingest_watch"))
def watch(
    folder: Annotated[Path, typer.Argument(help=t("arg_inbox"))],
    lake: LakeOption = None,
    device: Annotated[Optional[str], typer.Option("--device", help=t("opt_ingest_device"))] = None,
    mapping: Annotated[Optional[Path], typer.Option("--mapping", help=t("opt_ingest_mapping"))] = None,
    utc_offset: Annotated[Optional[float], typer.Option("--utc-offset", help=t("opt_utc_offset"))] = None,
    settle_s: Annotated[float, typer.Option("--settle-s", min=0.1, help=t("opt_settle_s"))] = 2.0,
) -> None:
    import signal
    import threading

    from ..ingest import service

    settings = settings_from(lake)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def report(outcome) -> None:
        if outcome.error:
            say("inbox_failed", path=outcome.moved_to, error=outcome.error)
        else:
            _say_summary(outcome.result)
            say("inbox_done", path=outcome.moved_to)

    with acting(settings) as (security, principal), clean_errors():
        say("inbox_watching", folder=folder)
        try:
            service.watch_inbox(security, principal, settings, folder, device_id=device, mapping=mapping,
                                utc_offset=utc_offset, settle_s=settle_s, stop=stop, on_outcome=report)
        except KeyboardInterrupt:
            pass


@ingest_app.command("broker-config", help=t("help_broker_config"))
def broker_config(
    lake: LakeOption = None,
    host: Annotated[str, typer.Option("--host", help=t("opt_mqtt_host"))] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help=t("opt_mqtt_port"))] = 1883,
    out: Annotated[Optional[Path], typer.Option("--out", help=t("opt_broker_out"))] = None,
) -> None:
    from ..ingest import service
    from ..security import Security, StoreError

    settings = settings_from(lake)
    with clean_errors():
        try:
            security = Security.open(settings)
        except StoreError as error:
            raise ValueError(str(error)) from None
        try:
            config = service.broker_setup(security, host, port)
        finally:
            security.close()
    if out is None:
        typer.echo(config)
    else:
        out.write_text(config, encoding="utf-8")
        say("broker_config_written", path=out)


@ingest_app.command("mqtt", help=t("help_ingest_mqtt"))
def mqtt(
    lake: LakeOption = None,
    host: Annotated[str, typer.Option("--host", help=t("opt_mqtt_host"))] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help=t("opt_mqtt_port"))] = 1883,
    batch_s: Annotated[float, typer.Option("--batch-s", min=0.1, help=t("opt_batch_s"))] = 2.0,
    late_window_days: Annotated[float, typer.Option("--late-window-days", min=0.0, help=t("opt_late_window"))] = 7.0,
) -> None:
    import signal
    import threading
    from datetime import timedelta

    from ..ingest import service

    settings = settings_from(lake)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with acting(settings) as (security, principal), clean_errors():
        say("mqtt_listening", host=host, port=port)
        try:
            counters = service.run_mqtt(security, principal, settings, host=host, port=port, batch_s=batch_s,
                                        late_window=timedelta(days=late_window_days), stop=stop)
        except KeyboardInterrupt:
            return
    say("mqtt_summary", messages=f"{counters.messages:,}", inserted=f"{counters.inserted:,}",
        skipped=f"{counters.skipped:,}", rejected=f"{counters.rejected:,}", batches=counters.batches)
