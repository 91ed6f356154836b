"""The accounts of many years as tasks of a Dask cluster (``dask.distributed``), one task per year.

A year is the accounts' natural partition: its figures depend on that year's ledger, telemetry,
caps and org tree only (a tower's u* threshold and gap filling use the whole year).  Each task
opens the lake read-only on its worker, pinned to the snapshot the driver chose, and returns the
year's rows; the driver writes them in one transaction, as a local build does.  Every worker needs
this carbonlib and the lake (a shared folder, or a PostgreSQL catalog with object storage).  A task
only reads, so when a worker dies Dask runs it again elsewhere and nothing is written twice.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from ..lake import Lake
from ..settings import Settings


def _year_on_worker(settings: Settings, year: int, snapshot: int, monthly: bool) -> pd.DataFrame:
    from . import accounts

    with Lake.open(settings, read_only=True) as lake:
        return accounts.compute_year(lake, year, snapshot, monthly=monthly)


def compute_years(cluster, settings: Settings, years: list[int], snapshot: int, monthly: bool) -> pd.DataFrame:
    """The account rows of ``years`` at ``snapshot``, one task per year on ``cluster`` (a scheduler's address
    ``tcp://host:8786`` or a ``distributed.Client``)."""
    from distributed import Client

    client = cluster if isinstance(cluster, Client) else Client(cluster, timeout="30s")
    token = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    try:
        futures = [client.submit(_year_on_worker, settings, int(year), int(snapshot), monthly, pure=False,
                                 key=f"carbon-accounts-{year}-{snapshot}-{token}") for year in years]
        return pd.concat(client.gather(futures), ignore_index=True)
    finally:
        if client is not cluster:
            client.close()
