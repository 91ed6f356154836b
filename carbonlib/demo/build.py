"""Build the demo province lake (``carbon demo build``).

Deterministic: the same seed and scale give the same rows (checked by
:func:`carbonlib.lake.checksums.table_checksums`).  Telemetry is generated and written one
month at a time, so memory stays bounded at every scale, and goes through the same
validating writer as real ingestion: faulty readings land in ``telemetry_reject``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from .. import factors
from ..accounting import accounts, factor_library, views
from ..lake import Lake, LakeError
from ..lake.schema import table
from ..ledger.service import SERVICE as LEDGER
from ..registry import Registry
from ..registry import store as registry_store
from ..registry.publish import mirror, public_folder, publish_files
from ..settings import Settings
from ..security.keys import key_path
from . import ledgers, province, signals
from .accounts import CREDENTIALS, create_demo_accounts

DEFAULT_SEED = 2364  # the standard's number, T/QGCML 2364-2023


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote."""

    lake: str
    scale: str
    seed: int
    telemetry_rows: int
    rejected_rows: int
    snapshot_id: int
    seconds: float
    replaced: str | None = None  # what --force replaced (None: the lake was new)
    credentials: Path | None = None  # the demo accounts' one-time passwords (None: the security store existed)


def _reference_tables(lake: Lake) -> None:
    factor_library.seed(lake)
    species = factors.factor_table("species_parameters").rename(columns={"latin": "latin_name"})
    species["volume_based"] = species["volume_based"].astype(bool)
    lake.append("species_parameter", species[table("species_parameter").column_names], source="carbonlib/data")


def _telemetry(lake: Lake, orgs: pd.DataFrame, devices: pd.DataFrame, sizes: dict[str, float], sc: province.Scale,
               seed: int, progress: bool) -> tuple[pd.DataFrame, int, int]:
    """Write telemetry month by month; return true monthly totals, rows written and rejected."""
    counties = orgs[orgs.level == "county"].org_id.tolist()
    parent = orgs.set_index("org_id").parent_id
    location = orgs.set_index("org_id")[["latitude", "longitude"]]
    first = pd.Timestamp(year=sc.years[0], month=1, day=1)
    months = pd.date_range(first, periods=12 * len(sc.years), freq="MS")
    weather = signals.build_weather(counties, first - pd.Timedelta(days=1), 12 * 31 * len(sc.years) + 40, seed)
    industry = orgs.set_index("org_id").industry
    totals, written, rejected = [], 0, 0
    bar = tqdm(total=len(months) * len(devices), desc=f"telemetry ({sc.name})", unit="device-month", disable=not progress)
    for m_index, month in enumerate(months):
        ids, metrics, stamps, values, flags = [], [], [], [], []
        for d_index, d in enumerate(devices.itertuples()):
            rng = np.random.default_rng([seed, d_index, m_index])
            clock = signals.month_clock(month, d.interval_s)
            county = weather.index(parent[d.org_id])
            if d.kind == "flux_tower":
                lat, lon = location.loc[d.org_id]
                series = signals.tower_month(clock, weather, county, lat, lon, rng)
            else:
                true = signals.meter_profile(industry[d.org_id], d.metric, clock, weather, county, sizes[d.org_id], rng)
                totals.append((d.org_id, d.metric, month, float(true.sum())))
                series = {d.metric: signals.meter_faults(true, d.metric, rng)}
            for metric, (vals, qc) in series.items():
                keep = ~np.isnan(vals)
                n = int(keep.sum())
                ids.append(np.full(n, d.device_id, dtype=object))
                metrics.append(np.full(n, metric, dtype=object))
                stamps.append(clock.ts.to_numpy()[keep])
                values.append(np.round(vals[keep], 4))
                flags.append(qc[keep])
            bar.update()
        # a mis-configured gateway sends a few readings under a device id nobody registered
        ids.append(np.full(3, "M-UNREGISTERED-GW17", dtype=object))
        metrics.append(np.full(3, "electricity_import", dtype=object))
        stamps.append((month + pd.to_timedelta([0, 1, 2], "h")).to_numpy())
        values.append(np.array([812.5, 799.0, 805.25]))
        flags.append(np.zeros(3, np.uint8))
        batch = pa.table({
            "device_id": pa.array(np.concatenate(ids), pa.string()),
            "metric": pa.array(np.concatenate(metrics), pa.string()),
            "ts": pa.array(np.concatenate(stamps).astype("datetime64[us]")),
            "value": pa.array(np.concatenate(values)),
            "qc": pa.array(np.concatenate(flags).astype(np.uint8)),
        })
        result = lake.append("telemetry", batch, source=f"demo-gateway/{month:%Y-%m}", on_error="quarantine",
                             received_at=(month + pd.offsets.MonthBegin(1)).to_pydatetime())
        written += result.inserted
        rejected += result.rejected
        bar.set_postfix(rows=f"{written:,}", rejected=rejected)
    bar.close()
    return pd.DataFrame(totals, columns=["org_id", "metric", "month", "amount"]), written, rejected


def _replace_demo_lake(settings: Settings) -> str | None:
    """Remove the demo lake at ``settings`` so it can be rebuilt; what was replaced (None: nothing was there).

    Only a lake the demo built (its ``lake_meta`` holds the demo's scale and seed) is removed,
    and only its own files (the catalog and the data folder inside the lake folder); any other
    lake, folder or file is refused with the reason.
    """
    folder = Path(settings.lake)
    if not settings.is_embedded:
        raise FileExistsError("--force replaces only an embedded demo lake (SQLite catalog in the lake folder); "
                              "drop a PostgreSQL-catalog lake with the database's own tools")
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return None
    catalog = Path(settings.catalog_uri.removeprefix("sqlite:"))
    if not catalog.is_file():
        raise FileExistsError(f"{folder} exists and is not a Carbon lake; refusing to delete it. "
                              "Fix: choose another --lake.")
    try:
        with Lake.open(settings, read_only=True) as existing:
            scale, seed = existing.meta("demo_scale"), existing.meta("demo_seed")
    except LakeError as error:
        raise FileExistsError(f"{folder} holds a catalog that does not open as a Carbon lake ({error}); refusing to "
                              "delete it. Fix: choose another --lake.") from None
    if scale is None or seed is None:
        raise FileExistsError(f"{folder} holds a lake that `carbon demo build` did not make (no demo marker in "
                              "lake_meta): --force replaces only demo lakes. Fix: choose another --lake, or back "
                              "this lake up and remove it yourself.")
    data = Path(settings.data_uri)
    if folder.resolve() not in data.resolve().parents:
        raise FileExistsError(f"the demo lake at {folder} keeps its data outside the lake folder ({data}); "
                              "remove it by hand")
    for part in (catalog, catalog.with_name(catalog.name + "-wal"), catalog.with_name(catalog.name + "-shm")):
        part.unlink(missing_ok=True)
    shutil.rmtree(data, ignore_errors=True)
    security_folder = key_path(settings).parent
    if (security_folder / CREDENTIALS).is_file():  # the demo's own accounts, made with the demo lake
        shutil.rmtree(security_folder)
    return f"demo lake ({scale}, seed {seed})"


def _registry(settings: Settings, lake: Lake, operations: list[tuple[datetime, str, dict]], seed: int) -> None:
    """Run the demo's registry operations (:func:`carbonlib.demo.ledgers.credit_registry`) in a new registry
    store, mirror them to the lake and publish the registry's verifiable files twice (after the issuances of the
    first year and at the end: two checkpoints, so a consistency proof between them).  A registry store the demo made before (for a lake since deleted or
    replaced) is replaced; any other is refused, naming it."""
    folder = registry_store.folder(settings)
    if folder.exists():
        with Registry.open(settings) as old:
            with old.store.transaction() as tx:
                marked = tx.one("SELECT value FROM meta WHERE key = 'demo_seed'")
        if marked is None:
            raise FileExistsError(f"a registry store that the demo did not make exists at {folder}; refusing to "
                                  "replace it. Fix: choose another --lake, or move that folder away.")
        shutil.rmtree(folder)
    ids = np.random.default_rng([seed, 7])
    with Registry.open(settings) as registry:
        with registry.store.transaction() as tx:
            tx.run("INSERT INTO meta VALUES ('demo_seed', ?)", [str(seed)])
        registry.new_id = lambda: ids.bytes(6).hex()
        first_transfer = next(k for k, (_, method, _) in enumerate(operations) if method == "transfer")
        for k, (at, method, arguments) in enumerate(operations):
            if k == first_transfer:
                publish_files(registry, public_folder(settings))
            registry.clock = lambda: at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if method == "transfer":
                transfer = registry.request_transfer(**arguments, requested_by="demo")
                registry.clock = lambda: (at + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                registry.accept_transfer(transfer["transfer_id"], arguments["to_org"])
            else:
                getattr(registry, method)(**arguments)
        mirror(lake, registry)
        publish_files(registry, public_folder(settings))


def build_demo(settings: Settings, scale: str = "small", seed: int = DEFAULT_SEED, *, force: bool = False,
               progress: bool = True, with_accounts: bool = True) -> BuildReport:
    """Create a lake at ``settings`` and fill it with the demo province.

    ``force`` replaces an existing *demo* lake (only the embedded default, only a lake this
    function built; any other lake or folder is refused, see :func:`_replace_demo_lake`);
    ``BuildReport.replaced`` says what was replaced.  ``with_accounts`` also runs the
    accounting job (:func:`carbonlib.accounting.accounts.build_accounts`) for every demo year.
    """
    started = pd.Timestamp.now()
    sc = province.scale(scale)
    replaced = None
    if force:
        replaced = _replace_demo_lake(settings)
    elif settings.is_embedded and Path(settings.catalog_uri.removeprefix("sqlite:")).exists():
        raise FileExistsError(f"a lake already exists at {settings.lake}. Fix: choose another --lake, or add --force "
                              "to replace it if it is a demo lake (other lakes are never replaced).")
    rng = np.random.default_rng([seed, 1])
    orgs = province.build_orgs(sc, rng)
    devices = province.build_devices(orgs, sc)
    enterprises = orgs[orgs.level.isin(["enterprise", "site"])].org_id
    sizes = {org: float(np.clip(rng.lognormal(0, 0.35), 0.4, 2.5)) for org in enterprises}
    with Lake.create(settings) as lake:
        lake.set_meta("demo_scale", scale)
        lake.set_meta("demo_seed", str(seed))
        _reference_tables(lake)
        registered, renames = province.org_history(orgs)
        lake.append("org", registered, source="demo")
        lake.service_append("orgs", "org_change", renames, source="demo")
        lake.append("device", devices.drop(columns="metric"), source="demo")
        lake.append("device_event", ledgers.device_events(devices, sc.years, np.random.default_rng([seed, 2])), source="demo")
        totals, written, rejected = _telemetry(lake, orgs, devices, sizes, sc, seed, progress)
        views.refresh_telemetry_daily(lake)
        ledger = ledgers.activity_ledger(totals, orgs, sizes, sc.years)
        entered, reviewed = ledgers.review_steps(ledger, orgs)
        lake.append("activity", entered, source="demo")
        lake.service_append(LEDGER, "activity_review", reviewed, source="demo")
        lake.append("cap", ledgers.caps(ledger, orgs, sc.years, np.random.default_rng([seed, 3])), source="demo")
        stands, plots, trees = ledgers.inventory(orgs, sc.years, np.random.default_rng([seed, 4]))
        lake.append("forest_stand", stands, source="demo")
        lake.append("survey_plot", plots, source="demo")
        lake.append("survey_tree", trees, source="demo")
        projects, p_events, operations = ledgers.credit_registry(orgs, sc.years, np.random.default_rng([seed, 5]))
        lake.append("credit_project", projects, source="demo")
        lake.append("project_stand", projects[["project_id", "org_id"]].merge(stands[["org_id", "stand_id"]])
                    [["project_id", "stand_id"]], source="demo")  # each project claims its site's stands
        lake.append("project_event", p_events, source="demo")
        _registry(settings, lake, operations, seed)
        lake.append("carbon_price", ledgers.carbon_prices(sc.years, np.random.default_rng([seed, 6])), source="demo")
        if with_accounts:
            accounts.build_accounts(lake, list(sc.years))
        snapshot = lake.snapshot_id()
        tree = views.org_tree(lake)
    credentials = create_demo_accounts(settings, tree) if not key_path(settings).parent.exists() else None
    return BuildReport(str(Path(settings.lake).resolve()), scale, seed, written, rejected, snapshot,
                       (pd.Timestamp.now() - started).total_seconds(), replaced, credentials)
