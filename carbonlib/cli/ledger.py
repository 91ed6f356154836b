"""``carbon ledger list|enter|submit|approve|return|reject|reverse|history``: the emission ledger and its four-eyes
review (a face over :mod:`carbonlib.ledger`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..lake.schema import ACTIVITY_CATEGORIES, ACTIVITY_UNITS, EVIDENCE_KINDS, PENDING_STATUSES
from .auth import acting
from .common import JsonOption, LakeOption, choice, clean_errors, iso_date, say, settings_from, t, typer_app

ledger_app = typer_app("help_ledger")

EntryArgument = Annotated[str, typer.Argument(help=t("arg_entry_id"))]
CommentOption = Annotated[Optional[str], typer.Option("--comment", help=t("opt_review_comment"))]
AttachOption = Annotated[Optional[list[Path]], typer.Option("--attach", exists=True, dir_okay=False,
                                                            help=t("opt_attach"))]


def _show(row) -> None:
    from ..i18n import label
    from .common import language

    say("ledger_line", id=row.entry_id, org=row.org_id, start=row.period_start, end=row.period_end,
        category=row.category, type=row.activity_type, amount=f"{row.amount:,.3f}".rstrip("0").rstrip("."),
        unit=row.unit, status=label(row.status, language(), "ledger"))


@ledger_app.command("list", help=t("help_ledger_list"))
def listing(lake: LakeOption = None, org: Annotated[Optional[str], typer.Option("--org", help=t("opt_org"))] = None,
            status: Annotated[Optional[str], typer.Option("--status", help=t("opt_ledger_status"))] = None,
            year: Annotated[Optional[int], typer.Option("--year", help=t("opt_ledger_year"))] = None,
            as_json: JsonOption = False) -> None:
    from ..ledger import service

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        table = service.listing(security, principal, settings, org=org, status=status, year=year)
    if as_json:
        typer.echo(table.to_json(orient="records", date_format="iso", force_ascii=False, indent=2))
        return
    for row in table.itertuples():
        _show(row)
    say("ledger_count", count=len(table), pending=int(table.status.isin(PENDING_STATUSES).sum()))


@ledger_app.command("enter", help=t("help_ledger_enter"))
def enter(
    org: Annotated[str, typer.Option("--org", help=t("opt_ledger_org"))],
    start: Annotated[str, typer.Option("--start", help=t("opt_period_start"))],
    end: Annotated[str, typer.Option("--end", help=t("opt_period_end"))],
    category: Annotated[str, typer.Option("--category", callback=choice(ACTIVITY_CATEGORIES),
                                          help=t("opt_ledger_category", choices=", ".join(ACTIVITY_CATEGORIES)))],
    activity_type: Annotated[str, typer.Option("--type", help=t("opt_activity_type"))],
    amount: Annotated[float, typer.Option("--amount", help=t("opt_amount"))],
    unit: Annotated[str, typer.Option("--unit", callback=choice(ACTIVITY_UNITS),
                                      help=t("opt_ledger_unit", choices=", ".join(ACTIVITY_UNITS)))],
    evidence: Annotated[str, typer.Option("--evidence", help=t("opt_evidence"))],
    corrects: Annotated[Optional[str], typer.Option("--corrects", help=t("opt_corrects"))] = None,
    draft: Annotated[bool, typer.Option("--draft", help=t("opt_draft"))] = False,
    comment: CommentOption = None,
    ncv: Annotated[Optional[float], typer.Option("--ncv", help=t("opt_ncv"))] = None,
    carbon_content: Annotated[Optional[float], typer.Option("--carbon-content", help=t("opt_carbon_content"))] = None,
    oxidation: Annotated[Optional[float], typer.Option("--oxidation", help=t("opt_oxidation"))] = None,
    attach: AttachOption = None,
    kind: Annotated[str, typer.Option("--kind", callback=choice(EVIDENCE_KINDS),
                                      help=t("opt_evidence_kind", choices=", ".join(EVIDENCE_KINDS)))] = "invoice",
    lake: LakeOption = None,
) -> None:
    from ..ledger import service

    entry = service.NewEntry(org, iso_date(start), iso_date(end), category, activity_type, amount, unit, evidence,
                             ncv=ncv, carbon_content=carbon_content, oxidation=oxidation)
    files = tuple(service.Attachment(p.name, p.read_bytes(), kind) for p in attach or ())
    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        row = service.enter(security, principal, settings, entry, submit=not draft, corrects=corrects, comment=comment,
                            attachments=files)
    _show(row)


@ledger_app.command("attach", help=t("help_ledger_attach"))
def attach_files(
    entry_id: EntryArgument,
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help=t("arg_evidence_files"))],
    kind: Annotated[str, typer.Option("--kind", callback=choice(EVIDENCE_KINDS),
                                      help=t("opt_evidence_kind", choices=", ".join(EVIDENCE_KINDS)))] = "invoice",
    lake: LakeOption = None,
) -> None:
    from ..ledger import service

    attachments = tuple(service.Attachment(p.name, p.read_bytes(), kind) for p in files)
    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        found = service.attach(security, principal, settings, entry_id, attachments)
    for file in found.itertuples():
        say("ledger_evidence", name=file.filename, kind=file.kind, size=f"{file.size_bytes:,}", sha=file.sha256[:16])


def _step(name: str, help_key: str):
    def command(entry_id: EntryArgument, comment: CommentOption = None, lake: LakeOption = None) -> None:
        from ..ledger import service

        settings = settings_from(lake)
        with acting(settings) as (security, principal), clean_errors():
            row = getattr(service, name)(security, principal, settings, entry_id, comment=comment)
        _show(row)

    ledger_app.command(name.removesuffix("_entry"), help=t(help_key))(command)


_step("submit", "help_ledger_submit")
_step("approve", "help_ledger_approve")
_step("return_entry", "help_ledger_return")
_step("reject", "help_ledger_reject")
_step("reverse", "help_ledger_reverse")


@ledger_app.command("template", help=t("help_ledger_template"))
def template(out: Annotated[Path, typer.Argument(help=t("arg_template_out"))] = Path("ledger-template.xlsx"),
             lake: LakeOption = None) -> None:
    from ..lake import Lake
    from ..ledger import bulk

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        orgs = bulk.template_orgs(principal, settings)
        if not orgs:
            raise PermissionError(t("ledger_no_orgs", user=principal.username))
        with Lake.open(settings, read_only=True) as opened:
            written = bulk.write_template(opened, orgs, out)
    say("ledger_template_written", path=written, orgs=", ".join(orgs))


@ledger_app.command("import", help=t("help_ledger_import"))
def import_(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=t("arg_ledger_file"))],
            lake: LakeOption = None) -> None:
    from ..ledger import bulk

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        result = bulk.import_file(security, principal, settings, file)
    say("ledger_imported", count=result.entries, orgs=", ".join(f"{o} {n}" for o, n in result.per_org.items()),
        first=result.first_entry, last=result.last_entry)


@ledger_app.command("overdue", help=t("help_ledger_overdue"))
def overdue(lake: LakeOption = None, org: Annotated[Optional[str], typer.Option("--org", help=t("opt_org"))] = None,
            deadline_day: Annotated[int, typer.Option("--deadline-day", min=1, max=31,
                                                      help=t("opt_deadline_day"))] = 15,
            today: Annotated[Optional[str], typer.Option("--today", help=t("opt_today"))] = None,
            as_json: JsonOption = False) -> None:
    from ..i18n import label
    from ..ledger import service
    from .common import language

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        found = service.supervision_view(security, principal, settings, org=org, deadline_day=deadline_day,
                                         today=iso_date(today) if today else None)
    if as_json:
        typer.echo("{" + ", ".join(f'"{k}": {v.to_json(orient="records", date_format="iso", force_ascii=False)}'
                                   for k, v in found.items()) + "}")
        return
    for row in found["missing"].itertuples():
        say("ledger_missing", org=row.org_id, month=f"{row.month:%Y-%m}", deadline=row.deadline, days=row.days_overdue)
    for row in found["waiting"].itertuples():
        say("ledger_waiting", id=row.entry_id, org=row.org_id, status=label(row.status, language(), "ledger"),
            days=f"{row.waiting_days:.0f}")
    for row in found["late"].itertuples():
        say("ledger_late", id=row.entry_id, org=row.org_id, deadline=row.deadline,
            at=f"{row.submitted_at:%Y-%m-%d}")
    say("ledger_overdue_count", missing=len(found["missing"]), waiting=len(found["waiting"]), late=len(found["late"]))


@ledger_app.command("history", help=t("help_ledger_history"))
def history(entry_id: EntryArgument, lake: LakeOption = None, as_json: JsonOption = False) -> None:
    from ..i18n import label
    from ..ledger import service
    from .common import language

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        entry, steps, files = service.history(security, principal, settings, entry_id)
    if as_json:
        typer.echo(steps.to_json(orient="records", date_format="iso", force_ascii=False, indent=2))
        return
    _show(entry)
    say("ledger_entered", author=entry.author, at=f"{entry.entered_at:%Y-%m-%d %H:%M}",
        status=label(entry.entered_status, language(), "ledger"))
    for step in steps.itertuples():
        say("ledger_step", at=f"{step.event_time:%Y-%m-%d %H:%M}", actor=step.actor,
            step=label(step.event, language(), "ledger"),
            comment=f"  {step.comment}" if isinstance(step.comment, str) else "",
            related=f"  ({step.related_entry_id})" if isinstance(step.related_entry_id, str) else "")
    for file in files.itertuples():
        say("ledger_evidence", name=file.filename, kind=file.kind, size=f"{file.size_bytes:,}", sha=file.sha256[:16])
