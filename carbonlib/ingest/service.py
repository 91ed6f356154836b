"""File ingestion as a service: who may ingest, the audit record of each file, the roll-ups that follow.

A device operator (or the scheduler, for an inbox) ingests files for devices inside their org
subtree (action ``ingest_telemetry``).  Each file is one audited operation whose record names the
file and its counts; afterwards the daily roll-up (``telemetry_daily``, what the monitor reads) is
refreshed from the first day the file touched.  The accounts follow with the next
``carbon accounts refresh`` (or the scheduler's ``accounts`` job).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..accounting import views
from ..lake import Lake
from ..security import Principal, Security
from ..settings import Settings
from . import files
from .mapping import Mapping, load_mapping


def _device_orgs(lake: Lake, device_ids: Iterable[str]) -> dict[str, str]:
    named = sorted(set(device_ids))
    if not named:
        return {}
    found = lake.query(f"SELECT device_id, org_id FROM {lake.relation('device')} WHERE device_id IN "
                       f"({', '.join('?' for _ in named)})", named)
    return dict(zip(found.device_id, found.org_id))


def ingest_files(security: Security, principal: Principal, settings: Settings, paths: Iterable[str | Path], *,
                 file_format: str | None = None, device_id: str | None = None, mapping: str | Path | None = None,
                 utc_offset: float | None = None, progress: bool = False) -> list[files.FileSummary]:
    """:func:`carbonlib.ingest.files.ingest_file` for each path, authorised and audited, then the roll-up.

    Raises :class:`carbonlib.security.PermissionDenied` before reading a file whose devices lie
    outside the principal's subtree; a file that fails stops the run (files before it stay in).
    """
    from tqdm.auto import tqdm

    plan: Mapping | None = load_mapping(mapping) if mapping is not None else None
    summaries = []
    with Lake.open(settings) as lake:
        paths_of = views.org_paths(lake)
        named = [device_id] if device_id else [t.device_id for t in plan.targets] if plan else []
        if not named:
            raise ValueError("name the registered flux tower a tower file belongs to (--device), or give the mapping "
                             "file of a logger or meter file (--mapping); nothing was ingested")
        orgs = _device_orgs(lake, named)
        unknown = sorted(set(named) - set(orgs))
        if unknown:
            raise ValueError(f"device {', '.join(unknown)} is not registered; nothing was ingested. Fix: register the "
                             "device first (carbon devices register), or name the right one")
        for org in sorted(set(orgs.values()))[1:]:
            security.require(principal, "ingest_telemetry", org, paths=paths_of)
        first_org = min(orgs.values()) if orgs else None
        for path in paths:
            with security.operation(principal, "ingest_telemetry", first_org, paths=paths_of,
                                    object=f"file {Path(path).name}") as operation, \
                    tqdm(desc=Path(path).name, unit=" rows", disable=not progress, leave=True) as bar:
                summary = files.ingest_file(lake, path, file_format=file_format, device_id=device_id, mapping=plan,
                                            utc_offset=utc_offset, on_chunk=bar.update)
                operation.detail = (f"{summary.format}: {summary.rows} rows, {summary.inserted} readings in, "
                                    f"{summary.skipped} already there, {summary.rejected} quarantined, "
                                    f"{summary.missing} missing")
            summaries.append(summary)
        touched = [s for s in summaries if s.first is not None and (s.inserted or s.retried)]
        if touched:
            views.refresh_telemetry_daily(lake, since=str(min(s.first for s in touched).date()),
                                          until=str(max(s.last for s in touched).date()))
    return summaries


def watch_inbox(security: Security, principal: Principal, settings: Settings, folder: str | Path, *,
                device_id: str | None = None, mapping: str | Path | None = None, utc_offset: float | None = None,
                settle_s: float = 2.0, stop=None, on_outcome=None) -> None:
    """Ingest every file dropped into ``folder`` (:func:`carbonlib.ingest.inbox.watch`) as ``principal``, each file
    authorised and audited as in :func:`ingest_files`, until ``stop`` (a ``threading.Event``) is set."""
    from .inbox import watch

    def ingest(path: Path) -> files.FileSummary:
        return ingest_files(security, principal, settings, [path], device_id=device_id, mapping=mapping,
                            utc_offset=utc_offset)[0]

    watch(folder, ingest, settle_s=settle_s, stop=stop, on_outcome=on_outcome)


def _ingester_secret(security: Security) -> Path:
    from ..devices.service import broker_credentials

    return broker_credentials(security).folder / "ingester.secret"


def broker_setup(security: Security, host: str = "127.0.0.1", port: int = 1883) -> str:
    """The broker's ``mosquitto.conf`` for this platform, after (re)issuing the ingester's own password into an
    owner-only file next to the security store's keys (run by the operator who installed the platform)."""
    import os

    from ..devices.credentials import INGESTER_USER
    from ..devices.service import broker_credentials

    credentials = broker_credentials(security)
    config = credentials.broker_config(host, port)
    secret = credentials.issue(INGESTER_USER)
    descriptor = os.open(_ingester_secret(security), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")
    return config


def run_mqtt(security: Security, principal: Principal, settings: Settings, *, host: str = "127.0.0.1",
             port: int = 1883, batch_s: float = 2.0, late_window=None, stop=None, on_commit=None, ready=None):
    """Run the MQTT ingester (:class:`carbonlib.ingest.mqtt.MqttIngester`) as ``principal`` until ``stop`` is set;
    its start and its counts at the end are audited; ``ready`` (an Event) is set once it is subscribed."""
    import threading

    from .mqtt import BrokerAddress, MqttIngester

    secret_file = _ingester_secret(security)
    if not secret_file.is_file():
        raise ValueError(f"no ingester password at {secret_file}; set the broker up first (carbon ingest "
                         "broker-config) and start mosquitto with that configuration")
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
    root = next(iter(paths), None)
    options = {"late_window": late_window} if late_window is not None else {}
    ingester = MqttIngester(settings, BrokerAddress(host, port, password=secret_file.read_text().strip()),
                            batch_s=batch_s, **options)
    with security.operation(principal, "ingest_telemetry", root, paths=paths,
                            object=f"mqtt {host}:{port}") as operation:
        counters = ingester.run(stop or threading.Event(), on_commit=on_commit, ready=ready)
        operation.detail = (f"{counters.messages} messages, {counters.inserted} readings in, {counters.skipped} "
                            f"already there, {counters.rejected} quarantined, {counters.batches} batches")
    return counters
