"""``carbon registry …``: the credit registry (a face over :mod:`carbonlib.registry`).

Operations run as the logged-in registry operator and are audited; ``serial``, ``summary`` and
``verify --published`` need no login (the public observer's view and the third party's check).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..i18n import label
from ..registry.book import REVERSAL_CAUSES
from ..registry.projects import CHECKLISTS, NEXT_STEPS
from ..registry.store import PURPOSES
from .auth import acting
from .common import (JsonOption, LakeOption, choice, clean_errors, fail, iso_date, language, say, settings_from,
                     t, typer_app)

STEPS = tuple(sorted({step for steps in NEXT_STEPS.values() for step in steps} - {"initiated"}))
CHECKLIST_ITEMS = tuple(item for items in CHECKLISTS.values() for item in items)

registry_app = typer_app("help_registry")

ProjectOption = Annotated[str, typer.Option("--project", help=t("opt_registry_project"))]
VintageOption = Annotated[int, typer.Option("--vintage", help=t("opt_registry_vintage"))]
QuantityOption = Annotated[int, typer.Option("--quantity", help=t("opt_registry_quantity"))]
SerialsOption = Annotated[Optional[str], typer.Option("--serials", help=t("opt_registry_serials"))]


def _serials(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    first, _, last = text.partition("-")
    try:
        return int(first), int(last)
    except ValueError:
        raise typer.BadParameter(t("registry_serials_form"), param_hint="--serials") from None


def _run(lake: Path | None, operation, *args, **kw) -> None:
    """Run service ``operation`` as the logged-in principal and print what the log recorded."""
    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        done = operation(security, principal, settings, *args, **kw)
    say("registry_done", kind=done["kind"], id=done["op_id"], seq=done["seq"],
        quantity=f"{done['quantity']:,}" if "quantity" in done else "-")


@registry_app.command("open-account", help=t("help_registry_open"))
def open_account(org: Annotated[str, typer.Argument(help=t("arg_registry_org"))], lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.open_accounts, org)


@registry_app.command("issue", help=t("help_registry_issue"))
def issue(project: ProjectOption, vintage: VintageOption, quantity: QuantityOption,
          verification: Annotated[str, typer.Option("--verification", help=t("opt_registry_verification"))],
          buffer_share: Annotated[Optional[float], typer.Option("--buffer-share", help=t("opt_registry_buffer"))] = None,
          lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.issue, project, vintage, quantity, verification_ref=verification, buffer_share=buffer_share)


@registry_app.command("transfer", help=t("help_registry_transfer"))
def transfer(source: Annotated[str, typer.Argument(help=t("arg_registry_org"))],
             target: Annotated[str, typer.Argument(help=t("arg_registry_to"))],
             project: ProjectOption, vintage: VintageOption, quantity: QuantityOption,
             price: Annotated[Optional[float], typer.Option("--price", help=t("opt_registry_price"))] = None,
             serials: SerialsOption = None, lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.request_transfer, source, target, project, vintage, quantity, price_cny=price,
         serial_range=_serials(serials))


@registry_app.command("accept", help=t("help_registry_accept"))
def accept(transfer_id: Annotated[str, typer.Argument(help=t("arg_registry_transfer"))], lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.accept_transfer, transfer_id)


@registry_app.command("reject", help=t("help_registry_reject"))
def reject(transfer_id: Annotated[str, typer.Argument(help=t("arg_registry_transfer"))], lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.reject_transfer, transfer_id)


@registry_app.command("withdraw", help=t("help_registry_withdraw"))
def withdraw(transfer_id: Annotated[str, typer.Argument(help=t("arg_registry_transfer"))],
             lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.cancel_transfer, transfer_id)


@registry_app.command("retire", help=t("help_registry_retire"))
def retire(org: Annotated[str, typer.Argument(help=t("arg_registry_org"))], project: ProjectOption,
           vintage: VintageOption, quantity: QuantityOption,
           beneficiary: Annotated[str, typer.Option("--beneficiary", help=t("opt_registry_beneficiary"))],
           purpose: Annotated[str, typer.Option("--purpose", callback=choice(PURPOSES),
                                                help=t("opt_registry_purpose", choices=", ".join(PURPOSES)))],
           cap_year: Annotated[Optional[int], typer.Option("--cap-year", help=t("opt_registry_cap_year"))] = None,
           serials: SerialsOption = None, lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.retire, org, project, vintage, quantity, beneficiary=beneficiary, purpose=purpose,
         cap_year=cap_year, serial_range=_serials(serials))


@registry_app.command("pledge", help=t("help_registry_pledge"))
def pledge(org: Annotated[str, typer.Argument(help=t("arg_registry_org"))], project: ProjectOption,
           vintage: VintageOption, quantity: QuantityOption,
           pledgee: Annotated[str, typer.Option("--pledgee", help=t("opt_registry_pledgee"))],
           lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.pledge, org, project, vintage, quantity, pledgee=pledgee)


@registry_app.command("release", help=t("help_registry_release"))
def release(org: Annotated[str, typer.Argument(help=t("arg_registry_org"))],
            pledge_id: Annotated[str, typer.Argument(help=t("arg_registry_pledge"))], lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.release, org, pledge_id)


@registry_app.command("export", help=t("help_registry_export"))
def export(org: Annotated[str, typer.Argument(help=t("arg_registry_org"))], project: ProjectOption,
           vintage: VintageOption, quantity: QuantityOption,
           to: Annotated[str, typer.Option("--to", help=t("opt_registry_destination"))], lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.request_export, org, project, vintage, quantity, destination=to)


@registry_app.command("export-confirm", help=t("help_registry_export_confirm"))
def export_confirm(export_id: Annotated[str, typer.Argument(help=t("arg_registry_export"))],
                   ref: Annotated[str, typer.Option("--ref", help=t("opt_registry_destination_ref"))],
                   lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.confirm_export, export_id, destination_ref=ref)


@registry_app.command("export-cancel", help=t("help_registry_export_cancel"))
def export_cancel(export_id: Annotated[str, typer.Argument(help=t("arg_registry_export"))],
                  lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.cancel_export, export_id)


@registry_app.command("cancel", help=t("help_registry_cancel"))
def cancel(org: Annotated[str, typer.Argument(help=t("arg_registry_org"))], project: ProjectOption,
           vintage: VintageOption, quantity: QuantityOption,
           reason: Annotated[str, typer.Option("--reason", help=t("opt_registry_reason"))], lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.cancel, org, project, vintage, quantity, reason=reason)


@registry_app.command("reversal", help=t("help_registry_reversal"))
def reversal(project: Annotated[str, typer.Argument(help=t("opt_registry_project"))], quantity: QuantityOption,
             cause: Annotated[str, typer.Option("--cause", callback=choice(REVERSAL_CAUSES),
                                                help=t("opt_registry_cause", choices=", ".join(REVERSAL_CAUSES)))],
             note: Annotated[str, typer.Option("--note", help=t("opt_registry_note"))] = "",
             lake: LakeOption = None) -> None:
    from ..registry import service

    _run(lake, service.report_reversal, project, quantity, cause=cause, note=note)


def _document(path: Path | None) -> tuple[str, bytes] | None:
    return None if path is None else (path.name, path.read_bytes())


@registry_app.command("project-init", help=t("help_registry_project_init"))
def project_init(project: Annotated[str, typer.Argument(help=t("opt_registry_project"))],
                 org: Annotated[str, typer.Option("--org", help=t("opt_registry_proponent"))],
                 name_zh: Annotated[str, typer.Option("--name-zh", help=t("opt_registry_name_zh"))],
                 name_en: Annotated[str, typer.Option("--name-en", help=t("opt_registry_name_en"))],
                 project_type: Annotated[str, typer.Option("--type", help=t("opt_registry_type"))],
                 methodology: Annotated[str, typer.Option("--methodology", help=t("opt_registry_methodology"))],
                 start: Annotated[str, typer.Option("--start", help=t("opt_registry_crediting_start"))],
                 end: Annotated[str, typer.Option("--end", help=t("opt_registry_crediting_end"))],
                 estimate: Annotated[float, typer.Option("--estimate", help=t("opt_registry_estimate"))],
                 on: Annotated[Optional[str], typer.Option("--on", help=t("opt_registry_on"))] = None,
                 document: Annotated[Optional[Path], typer.Option("--document", help=t("opt_registry_document"))] = None,
                 lake: LakeOption = None) -> None:
    from ..registry import projects

    settings = settings_from(lake)
    new = projects.NewProject(project, org, name_zh, name_en, project_type, methodology, iso_date(start), iso_date(end),
                              estimate)
    with acting(settings) as (security, principal), clean_errors():
        row = projects.initiate(security, principal, settings, new, on=iso_date(on), document=_document(document))
    say("registry_step_done", project=project, step=row.event_type, id=row.name)


@registry_app.command("project-step", help=t("help_registry_project_step"))
def project_step(project: Annotated[str, typer.Argument(help=t("opt_registry_project"))],
                 step: Annotated[str, typer.Argument(callback=choice(STEPS),
                                                     help=t("arg_registry_step", choices=", ".join(STEPS)))],
                 body: Annotated[str, typer.Option("--body", help=t("opt_registry_body"))],
                 on: Annotated[Optional[str], typer.Option("--on", help=t("opt_registry_on"))] = None,
                 vintage: Annotated[Optional[int], typer.Option("--vintage", help=t("opt_registry_vintage"))] = None,
                 met: Annotated[Optional[list[str]], typer.Option("--met", callback=choice(CHECKLIST_ITEMS),
                                                                  help=t("opt_registry_met"))] = None,
                 note: Annotated[str, typer.Option("--note", help=t("opt_registry_note"))] = "",
                 document: Annotated[Optional[Path], typer.Option("--document", help=t("opt_registry_document"))] = None,
                 lake: LakeOption = None) -> None:
    from datetime import date

    from ..registry import projects

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        row = projects.record_step(security, principal, settings, project, step, body=body, on=iso_date(on) or date.today(),
                                   vintage=vintage, note=note, checklist={item: True for item in met or ()},
                                   document=_document(document))
    say("registry_step_done", project=project, step=row.event_type, id=row.name)


@registry_app.command("monitoring-report", help=t("help_registry_monitoring_report"))
def monitoring_report(project: Annotated[str, typer.Argument(help=t("opt_registry_project"))],
                      vintage: Annotated[int, typer.Option("--vintage", help=t("opt_registry_vintage"))],
                      body: Annotated[str, typer.Option("--body", help=t("opt_registry_body"))],
                      on: Annotated[Optional[str], typer.Option("--on", help=t("opt_registry_on"))] = None,
                      out: Annotated[Path, typer.Option("--out", help=t("opt_monitoring_out"))] = Path("reports/monitoring"),
                      lang: Annotated[str, typer.Option("--lang", callback=choice(("zh", "en")),
                                                        help=t("opt_report_lang"))] = "zh",
                      lake: LakeOption = None) -> None:
    from datetime import date

    from ..registry import monitoring

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        drafted = monitoring.draft(security, principal, settings, project, vintage, out=out, body=body,
                                   on=iso_date(on) or date.today(), lang=lang)
    say("registry_monitoring_done", project=project, vintage=vintage, html=drafted.html, sha=drafted.figures_sha256[:12],
        id=drafted.step.name, seconds=drafted.seconds)


@registry_app.command("balances", help=t("help_registry_balances"))
def balances(org: Annotated[Optional[str], typer.Option("--org", help=t("opt_registry_org_filter"))] = None,
             lake: LakeOption = None, as_json: JsonOption = False) -> None:
    from ..accounting import views
    from ..lake import Lake
    from ..registry import Registry

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        with Lake.open(settings, read_only=True) as opened:
            paths = views.org_paths(opened)
        with Registry.open(settings, create=False) as registry:
            found = registry.balances(org)
        allowed = [o for o in found.org_id.unique() if principal.may("view_figures", o, paths)
                   or principal.may("operate_registry", o, paths)]
        if org and org not in allowed:
            security.require(principal, "view_figures", org, paths=paths, object=f"registry balances of {org}")
        found = found[found.org_id.isin(allowed)]
    if as_json:
        typer.echo(found.to_json(orient="records", force_ascii=False, indent=2))
        return
    if found.empty:
        say("registry_no_balances", user=principal.username)
    for row in found.itertuples():
        say("registry_balance_line", account=row.account_id, project=row.project_id, vintage=row.vintage,
            state=row.state, quantity=f"{row.quantity:,}", reserved=f"{row.reserved:,}" if row.reserved else "")


@registry_app.command("serial", help=t("help_registry_serial"))
def serial(number: Annotated[int, typer.Argument(help=t("arg_registry_serial"))], lake: LakeOption = None,
           as_json: JsonOption = False) -> None:
    from ..registry import Registry

    with clean_errors(), Registry.open(settings_from(lake), create=False) as registry:
        found = registry.lookup(number)
    block = found["block"]
    public = [{k: v for k, v in step.items() if k in ("seq", "kind", "at", "quantity", "purpose", "cap_year", "beneficiary")}
              for step in found["history"]]
    if as_json:
        typer.echo(json.dumps({"serial": number, "block": block.label, "state": block.state, "history": public},
                              ensure_ascii=False, indent=2))
        return
    say("registry_serial", serial=number, block=block.label, state=block.state)
    for step in public:
        say("registry_history_line", at=step["at"], kind=label(f"ui_registry_step_{step['kind']}", language()),
            seq=step["seq"], quantity=f"{step['quantity']:,}")


@registry_app.command("summary", help=t("help_registry_summary"))
def summary(lake: LakeOption = None, as_json: JsonOption = False) -> None:
    from ..registry import Registry
    from ..registry.publish import public_summary

    with clean_errors(), Registry.open(settings_from(lake), create=False) as registry:
        table = public_summary(registry)
    if as_json:
        typer.echo(table.to_json(orient="records", indent=2))
        return
    for row in table.itertuples():
        say("registry_summary_line", project=row.project_id, vintage=row.vintage, issued=f"{row.issued:,}",
            outstanding=f"{row.outstanding:,}", retired=f"{row.retired:,}", cancelled=f"{row.cancelled:,}",
            buffer=f"{row.buffer:,}")


@registry_app.command("claims", help=t("help_registry_claims"))
def claims(lake: LakeOption = None, as_json: JsonOption = False) -> None:
    from ..lake import Lake
    from ..registry import Registry
    from ..registry import claims as checks

    settings = settings_from(lake)
    with clean_errors(), Registry.open(settings, create=False) as registry, Lake.open(settings, read_only=True) as opened:
        table = registry.reconcile()
        found = checks.double_claims(opened)
        seen = checks.coverage(opened)
    problems = len(found) + int((~table.ok).sum())
    if as_json:
        typer.echo(json.dumps({"reconciliation": json.loads(table.to_json(orient="records")), "coverage": seen,
                               "double_claims": json.loads(found.to_json(orient="records"))}, ensure_ascii=False, indent=2))
    else:
        for row in table.itertuples():
            say("registry_reconcile_line", project=row.project_id, vintage=row.vintage, issued=f"{row.issued:,}",
                held=f"{row.held:,}", pledged=f"{row.pledged:,}", retired=f"{row.retired:,}",
                cancelled=f"{row.cancelled:,}", buffer=f"{row.buffer:,}", pending_export=f"{row.pending_export:,}",
                exported=f"{row.exported:,}", ok="ok" if row.ok else "MISMATCH")
        say("registry_claims_coverage", **seen)
        for row in found.itertuples():
            say("registry_claim_line", kind=row.kind, detail=row.detail)
        if not problems:
            say("registry_no_claims")
    if problems:
        fail(t("registry_claims_found", count=problems))


@registry_app.command("publish", help=t("help_registry_publish"))
def publish(out: Annotated[Optional[Path], typer.Option("--out", help=t("opt_registry_out"))] = None,
            lake: LakeOption = None) -> None:
    from ..lake import Lake
    from ..registry import Registry
    from ..registry.publish import mirror, public_folder, publish_files

    settings = settings_from(lake)
    with clean_errors(), Registry.open(settings, create=False) as registry:
        with Lake.open(settings) as opened:
            mirrored = mirror(opened, registry)
        written = publish_files(registry, out or public_folder(settings))
    say("registry_published", folder=written["folder"], size=written["tree_size"], checkpoints=written["checkpoints"],
        retirements=written["retirements"], mirrored=mirrored)


@registry_app.command("certificate", help=t("help_registry_certificate"))
def certificate(retirement: Annotated[str, typer.Argument(help=t("arg_registry_retirement"))],
                out: Annotated[Path, typer.Option("--out", help=t("opt_certificate_out"))] = Path("."),
                pdf: Annotated[bool, typer.Option("--pdf", help=t("opt_certificate_pdf"))] = False,
                lake: LakeOption = None) -> None:
    from ..registry import Registry
    from ..registry.publish import certificate_page
    from ..reporting.reports import export_pdf, pdf_converter

    with clean_errors(), Registry.open(settings_from(lake), create=False) as registry:
        page = certificate_page(registry, retirement)
    out.mkdir(parents=True, exist_ok=True)
    html = out / f"{retirement}.html"
    html.write_text(page)
    paths = [html]
    if pdf:
        chromium = pdf_converter()
        if chromium is None:
            fail(t("no_chromium"))
        paths.append(export_pdf(html, out / f"{retirement}.pdf", chromium))
    say("registry_certificate_written", paths=", ".join(str(p) for p in paths))


@registry_app.command("verify", help=t("help_registry_verify"))
def verify(published: Annotated[Optional[Path], typer.Option("--published", help=t("opt_registry_published"))] = None,
           certificate: Annotated[Optional[Path], typer.Option("--certificate", help=t("opt_registry_certificate"))] = None,
           key: Annotated[Optional[Path], typer.Option("--key", help=t("opt_registry_key"))] = None,
           lake: LakeOption = None) -> None:
    if certificate is not None:
        from ..registry.verify import VerificationFailed, verify_certificate

        if key is None:
            fail(t("registry_needs_key"))
        try:
            facts = verify_certificate(certificate.read_text(), key.read_bytes(), certificate.name)
        except (OSError, VerificationFailed) as error:
            fail(error)
        say("registry_certificate_checked", id=facts["retirement_id"], quantity=f"{facts['quantity']:,}",
            beneficiary=facts["beneficiary"], seq=facts["seq"])
        return
    if published is not None:
        from ..registry.verify import verify_folder

        result = verify_folder(published)
        for failure in result.failures:
            typer.secho(failure, fg=typer.colors.RED, err=True)
        say("registry_published_checked", checkpoints=result.checkpoints, proofs=result.consistency_proofs,
            retirements=result.retirements, certificates=result.certificates)
        if not result.ok:
            fail(t("registry_verify_failed", count=len(result.failures)))
        return
    from ..registry import Registry

    with clean_errors(), Registry.open(settings_from(lake), create=False) as registry:
        check = registry.verify()
    if not check.ok:
        fail(check.problem)
    say("registry_verified", transactions=check.transactions, checkpoints=check.checkpoints)
