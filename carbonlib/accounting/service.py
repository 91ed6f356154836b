"""The accounting service as a principal calls it: authorised, audited, then the account engine.

The account of every org is computed at once, so computing needs ``compute_accounts`` on the
root of the org tree (an analyst of the province, or the scheduler).  Each call leaves a
``started`` and an ``ok``/``failed`` record in the audit log
(:meth:`carbonlib.security.Security.operation`).  The engine functions
(:func:`.accounts.build_accounts`, :func:`.accounts.refresh_accounts`) stay available to
trusted callers that hold the lake itself (the demo builder, tests).
"""

from __future__ import annotations

from ..lake import Lake, WriteResult
from ..security import Principal, Security
from ..settings import Settings
from . import accounts, views


def build(security: Security, principal: Principal, settings: Settings, years: list[int] | None = None, *,
          cluster=None) -> WriteResult:
    """Compute and materialise the accounts of ``years`` (default every year with data) for every org; ``cluster``:
    a Dask scheduler's address to compute the years on (:mod:`carbonlib.accounting.cluster`)."""
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        root = _root(paths)
        with security.operation(principal, "compute_accounts", root, paths=paths, object="accounts build",
                                detail=f"years {years or 'all'}" + (f" on {cluster}" if cluster else "")) as operation:
            result = accounts.build_accounts(lake, years or None, cluster=cluster)
            operation.detail = f"{result.inserted} figures written, {result.skipped} unchanged"
    return result


def refresh(security: Security, principal: Principal, settings: Settings) -> accounts.RefreshResult:
    """Recompute only the org-periods touched by data that arrived since the last run."""
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        root = _root(paths)
        with security.operation(principal, "compute_accounts", root, paths=paths,
                                object="accounts refresh") as operation:
            result = accounts.refresh_accounts(lake)
            operation.detail = (f"{len(result.recomputed)} org-periods, {result.rows_written} figures written, "
                                f"{result.rows_deleted} deleted")
    return result


def _root(paths: dict[str, str]) -> str:
    if not paths:
        raise ValueError("the lake has no organisations yet: load the org table first (`carbon demo build` "
                         "for the demo province)")
    return next(iter(paths))
