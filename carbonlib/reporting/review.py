"""Report review (four eyes): a reviewer signs a report someone else prepared, and its cover says so.

A report leaves its run folder (``<out>/<kind>/<period>/<org>/``) saying "reviewed by:
(awaiting review)".  :func:`review_report` lets a principal with the ``review_reports``
right on the report's org (the reviewer role) sign it, never a report it prepared itself, and
only while every output still has the checksum recorded when it was made (the reviewer signs
those figures, not files edited since).  Signing writes the reviewer's name and date into the
cover of the executed notebook, exports its HTML (and PDF, when the run made one) again,
records reviewer, time and comment in ``run.json`` with the new checksums, and leaves an
audit record (:meth:`carbonlib.security.Security.operation`).  A report is signed once; a
re-run makes a new report that needs its own review.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from ..accounting import views
from ..lake import Lake
from ..lake.integrity import sha256_file
from ..markup import md_text
from ..security import PermissionDenied, Principal, Security
from ..settings import Settings
from . import reports


def load_run(run_dir: Path) -> reports.RunRecord:
    """The run recorded in ``run_dir/run.json``; FileNotFoundError naming the fix when there is none."""
    record = reports.read_run(run_dir)
    if record is None:
        raise FileNotFoundError(f"{run_dir} holds no report run (run.json missing). Fix: name a report's folder, "
                                "e.g. reports/annual/2025/P43 (`carbon reports run` prints them)")
    return record


def _changed_outputs(run_dir: Path, record: reports.RunRecord) -> list[str]:
    """Outputs whose checksum differs from the one recorded when the report was made (or that are gone)."""
    return [name for name, digest in record.checksums.items()
            if not (run_dir / name).is_file() or sha256_file(run_dir / name) != digest]


def review_report(security: Security, principal: Principal, settings: Settings, run_dir: Path, *,
                  comment: str = "") -> reports.RunRecord:
    """Sign the report in ``run_dir`` as reviewed by ``principal``; returns the updated run record.

    Raises PermissionDenied (audited) without the review right on the report's org or for the
    report's own preparer, ValueError for a failed run, a report already reviewed, or outputs
    changed since the run.
    """
    run_dir = Path(run_dir)
    record = load_run(run_dir)
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
    what = f"report {record.run_id}"
    security.require(principal, "review_reports", record.org_id, paths=paths, object=what)
    if record.preparer and record.preparer == principal.username:
        security.record(principal, "review_reports", object=what, org_id=record.org_id, outcome="denied",
                        detail="four eyes: the preparer may not review its own report")
        raise PermissionDenied(f"{principal.username} prepared {what} and may not review it (four eyes): "
                               "ask another reviewer")
    if record.status not in ("ok", "skipped"):
        raise ValueError(f"{what} {record.status}; only a report that ran through can be reviewed. Fix: run it again")
    if record.reviewed_by:
        raise ValueError(f"{what} was already reviewed by {record.reviewed_by} at {record.reviewed_at}; "
                         "a re-run makes a new report to review")
    changed = _changed_outputs(run_dir, record)
    if changed:
        raise ValueError(f"{what}: {', '.join(changed)} changed since the report was made (checksums differ); "
                         "it cannot be signed. Fix: run the report again and review the new one")
    # before anything is signed: a report with a PDF needs a printer for the signed one
    chromium = reports.pdf_converter() if record.pdf_path else None
    if record.pdf_path and chromium is None:
        raise RuntimeError("the report has a PDF but this machine has no headless Chromium to print the "
                           "signed one. Fix: apt-get install -y chromium")
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    signed = f"figures {record.figures_sha256}" + (f"; {comment}" if comment else "")
    with security.operation(principal, "review_reports", record.org_id, paths=paths, object=what,
                            detail=signed[:500]) as operation:
        _sign_cover(Path(record.notebook_path), principal.display_name, now)
        record.html_path = str(reports.export_html(Path(record.notebook_path), run_dir / "report.html"))
        if record.pdf_path:
            reports.export_pdf(Path(record.html_path), Path(record.pdf_path), chromium)
        record.reviewed_by, record.reviewer = principal.display_name, principal.username
        record.reviewed_at, record.review_comment = now.isoformat(), comment or None
        record.checksums = reports.output_checksums(record)
        reports.write_run(run_dir, record)
        operation.detail = signed[:500]
    return record


def _sign_cover(notebook_path: Path, reviewer: str, when: datetime) -> None:
    """Put the reviewer and the date into the cover of the executed notebook (its "awaiting review" line)."""
    import nbformat

    nb = nbformat.read(notebook_path, as_version=4)
    lang = nb.metadata.get("papermill", {}).get("parameters", {}).get("lang", "zh")
    awaiting = f"- {reports.text('reviewed_by', lang)}: {reports.text('not_reviewed', lang)}"
    signed = f"- {reports.text('reviewed_by', lang)}: {md_text(reviewer)} ({when:%Y-%m-%d %H:%M} UTC)"
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            markdown = output.get("data", {}).get("text/markdown")
            if markdown and awaiting in markdown:
                output["data"]["text/markdown"] = markdown.replace(awaiting, signed, 1)
                nbformat.write(nb, notebook_path)
                return
    raise ValueError(f"{notebook_path}: the cover has no line {awaiting!r} to sign (a report made before reviews "
                     "were recorded). Fix: run the report again")
