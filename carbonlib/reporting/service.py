"""The reporting service as a principal calls it: scoped, authorised, audited, then the batch runner.

A principal runs reports for the orgs it may (``run_reports``: managers and analysts in their
subtree, the scheduler everywhere); asking for an org outside its scope is refused and audited
before any notebook starts.  Each batch leaves a ``started`` and an ``ok``/``failed`` record
(:meth:`carbonlib.security.Security.operation`) naming the kind, period, orgs and manifest.
"""

from __future__ import annotations

from ..accounting import views
from ..lake import Lake
from ..security import PermissionDenied, Principal, Security
from ..settings import Settings
from . import reports


def run_reports(security: Security, principal: Principal, settings: Settings, kind: str, period: str, *,
                orgs: list[str] | None = None, **options) -> reports.BatchResult:
    """:func:`.reports.run_batch` for ``orgs`` (default: the batch's orgs inside the principal's scope).

    ``options`` are those of :func:`.reports.run_batch` (out_dir, workers, force, snapshot, lang,
    progress, pdf); the reports name the principal as their preparer.  Raises :class:`PermissionDenied` when an org is outside the scope or
    none is inside it.
    """
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
        snapshot = options.get("snapshot")
        default = None if orgs else reports.default_orgs(lake, kind, reports.data_snapshot(lake)
                                                         if snapshot is None else int(snapshot), period)
    unknown = [o for o in orgs or () if o not in paths]
    if unknown:
        raise ValueError(f"unknown org id(s) {', '.join(unknown[:10])}; see table org (`carbon lake info`) for the ids")
    chosen = list(dict.fromkeys(orgs)) if orgs else [o for o in default if principal.may("run_reports", o, paths)]
    if not chosen:
        security.require(principal, "run_reports", next(iter(paths), None), paths=paths, object=f"{kind} {period}")
        raise PermissionDenied(f"{principal.username} may run reports, but none of the {kind} batch's orgs is in "
                               "its scope; name the orgs with --org")
    for org in chosen[1:]:
        security.require(principal, "run_reports", org, paths=paths, object=f"{kind} {period}")
    with security.operation(principal, "run_reports", chosen[0], paths=paths, object=f"{kind} {period}",
                            detail=f"{len(chosen)} org(s): {', '.join(chosen[:20])}") as operation:
        result = reports.run_batch(settings, kind, period, orgs=chosen, prepared_by=principal.display_name,
                                   preparer=principal.username, **options)
        failed = len(result.failed)
        operation.outcome = "failed" if failed else "ok"
        operation.detail = f"{len(result.records) - failed} ok, {failed} failed; manifest {result.manifest_path}"
    return result
