"""The ledger page (Panel, ``/ledger``): data officers enter and submit entries with evidence; reviewers approve,
return, reject or reverse them (clause 5.1, four-eyes); everyone with figures of the subtree reads the ledger and
each entry's history.

Every button calls :mod:`carbonlib.ledger.service` as the logged-in principal, whose session is
checked again first; the service authorises (``enter_ledger`` on the enterprise, ``review_ledger``
on its subtree, never an entry the reviewer entered or submitted) and audits each step.  The
entry form offers only what the accounts can compute (:mod:`carbonlib.ledger.catalogue`) and
previews the tCO2e and the factors that will be used before anything is written.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import date

import pandas as pd
import panel as pn

from ..accounting import views
from ..i18n import activity_label, label, message
from ..lake import Lake
from ..lake.schema import ACTIVITY_CATEGORIES, EVIDENCE_KINDS
from ..ledger import catalogue, service, supervision
from ..markup import html as markup
from ..reporting.reports import period_bounds
from ..reporting.reports import text as reports_text
from . import auth
from . import data as rollup_data
from .components import (PAGE_ACTIONS, text_table, _ScopedView, action_button, header, html, requested_lang, set_html,
                         table)
from .scope import Scope
from .theme import format_value

#: Entries listed at most (newest periods first); the status filter narrows them.
MAX_ROWS = 2000
#: Statuses in the filter, in workflow order.
STATUSES = ("draft", "submitted", "returned", "approved", "rejected", "reversed", "corrected")
_PERIOD = re.compile(r"\d{4}(-(0[1-9]|1[0-2]))?")


def parse_period(text: str) -> tuple[date, date]:
    """First and last day of a ledger period written as a month '2026-01' or a year '2026'."""
    text = (text or "").strip()
    if not _PERIOD.fullmatch(text):
        raise ValueError(f"period: {text[:20]!r} is not a month (2026-01) or a year (2026)")
    return period_bounds(text)


class LedgerPage(_ScopedView):
    """Ledger entries of the selected subtree with their status; the chosen entry's history and evidence; the
    review buttons (reviewers) and the entry form (data officers)."""

    def __init__(self, lake: Lake, scope: Scope, org: str | None = None, lang: str = "zh",
                 rollups: rollup_data.Rollups | None = None):
        org_id, note = scope.clamp(org)
        super().__init__(lake, rollups or rollup_data.rollups(lake), scope.tree, org_id, lang, note)
        self.scope = scope
        principal = scope.principal
        self.enters = [o for o in self.tree.org_id if principal.may("enter_ledger", o, scope.paths)
                       and self.orgs.loc[o, "level"] in ("enterprise", "site")]
        self.reviews = any(principal.may("review_ledger", o, scope.paths) for o in self.tree.org_id)
        self.result = html(sizing_mode="stretch_width")
        self.supervision_counts = html(sizing_mode="stretch_width")
        self.late_table = table(lang, height=180)
        self.waiting_table = table(lang, height=180)
        self.missing_table = table(lang, height=150)
        self._focus: str | None = None  # the entry to show after the next reload (one just entered)
        self.status = pn.widgets.Select(name=label("ui_status", lang), width=200, value="submitted" if self.reviews
                                        else "", options={label("ui_all", lang): "",
                                                          **{label(s, lang, "ledger"): s for s in STATUSES}})
        self.table = table(lang, height=340, pagination="remote", page_size=25)
        self.table.on_click(self._row_clicked)
        self.entry = pn.widgets.Select(name=label("ui_entry", lang), width=420)
        self.detail = html(sizing_mode="stretch_width")
        self.history = table(lang, height=180)
        self.files = table(lang, height=120)
        self.file_choice = pn.widgets.Select(name=label("ui_evidence", lang), width=360)
        self.download = pn.widgets.FileDownload(callback=self._evidence_bytes, filename="evidence", embed=False,
                                                label=label("ui_download_evidence", lang), width=200)
        self.comment = pn.widgets.TextAreaInput(name=label("ui_comment", lang), width=620, height=70, max_length=2000)
        self.review_buttons = [self._button(key, lambda s, p, step=step: self._step(s, p, step))
                               for key, step in (("ui_approve", "approve"), ("ui_return", "return_entry"),
                                                 ("ui_reject", "reject"), ("ui_reverse", "reverse"))]
        self.submit_button = self._button("ui_submit", lambda s, p: self._step(s, p, "submit"))
        self.attach_input = pn.widgets.FileInput(multiple=True, accept=".pdf,.png,.jpg,.jpeg,.xlsx,.csv,.txt")
        self.attach_kind = pn.widgets.Select(name=label("ui_evidence_kind", lang), width=180,
                                             options={label(f"evidence_{k}", lang): k for k in EVIDENCE_KINDS})
        self.attach_button = self._button("ui_attach", self._attach)
        # the entry form
        self.new_org = pn.widgets.Select(name=label("ui_org", lang), width=340,
                                         options={f"{self.name(o)} ({o})": o for o in self.enters})
        self.new_period = pn.widgets.TextInput(name=label("ui_period", lang), width=140, placeholder="2026-01")
        self.new_category = pn.widgets.Select(name=label("ui_category", lang), width=220, options={
            label(f"category_{c}", lang): c for c in ACTIVITY_CATEGORIES if catalogue.activity_types(lake, c)})
        self.new_type = pn.widgets.Select(name=label("ui_activity_type", lang), width=200)
        self.new_amount = pn.widgets.FloatInput(name=label("ui_amount", lang), value=None, start=0.0, width=160)
        self.new_unit = pn.widgets.Select(name=label("ui_unit", lang), width=120)
        self.new_voucher = pn.widgets.TextInput(name=label("ui_voucher", lang), width=200, placeholder="INV-2026-0001")
        self.new_corrects = pn.widgets.Select(name=label("ui_corrects", lang), width=360)
        self.new_measured = {key: pn.widgets.FloatInput(name=label(f"ui_measured_{key}", lang), value=None, start=0.0,
                                                        width=190) for key in ("ncv", "carbon_content", "oxidation")}
        self.new_files = pn.widgets.FileInput(multiple=True, accept=".pdf,.png,.jpg,.jpeg,.xlsx,.csv,.txt")
        self.new_kind = pn.widgets.Select(name=label("ui_evidence_kind", lang), width=180,
                                          options={label(f"evidence_{k}", lang): k for k in EVIDENCE_KINDS})
        self.preview = html(sizing_mode="stretch_width")
        self.enter_button = self._button("ui_submit_entry", lambda s, p: self._enter(s, p, True))
        self.draft_button = self._button("ui_save_draft", lambda s, p: self._enter(s, p, False))
        self.new_category.param.watch(lambda _: self._category_changed(), "value")
        self.new_type.param.watch(lambda _: self._type_changed(), "value")
        for widget in (self.new_org, self.new_period, self.new_amount, self.new_unit, *self.new_measured.values()):
            widget.param.watch(lambda _: self._draw_preview(), "value")
        self.new_org.param.watch(lambda _: self._draw_corrects(), "value")
        self.org_select.param.watch(lambda _: self.reload(), "value")
        self.status.param.watch(lambda _: self.reload(), "value")
        self.entry.param.watch(lambda _: self._draw_entry(), "value")
        self.file_choice.param.watch(lambda _: self._name_download(), "value")
        self._category_changed()
        self.reload()

    # ------------------------------------------------------------------------------------------ drawing
    def reload(self) -> None:
        """Read the ledger of the selected subtree again (after every action)."""
        lang = self.lang
        inside = sorted(self.inside(self.selected_org()).org_id)
        self.entries = self.lake.query(  # the subtree and status filtered in SQL: only the rows shown are read
            f"SELECT * FROM ({views.activity_status_sql(self.lake)}) WHERE org_id IN (SELECT unnest(?)) "
            f"AND (? = '' OR status = ?) ORDER BY period_start DESC, org_id, entry_id LIMIT {int(MAX_ROWS)}",
            [inside, self.status.value or "", self.status.value or ""])
        e = self.entries
        self.table.value = text_table({
            label("ui_entry", lang): e.entry_id, label("ui_org_code", lang): e.org_id,
            label("ui_period", lang): [_period_text(s, t) for s, t in zip(e.period_start, e.period_end)],
            label("ui_category", lang): [label(f"category_{c}", lang) for c in e.category],
            label("ui_activity_type", lang): [activity_label(t, lang) for t in e.activity_type],
            label("ui_amount", lang): [f"{a:,.3f}".rstrip("0").rstrip(".") for a in e.amount],
            label("ui_unit", lang): e.unit, label("ui_status", lang): [label(s, lang, "ledger") for s in e.status],
            label("ui_entered_by", lang): e.author,
            label("ui_last_step", lang): [_step_text(t, b) for t, b in zip(e.last_step_at, e.last_step_by)]})
        chosen, self._focus = self._focus or self.entry.value, None
        self.entry.options = list(e.entry_id)
        ids = set(e.entry_id)
        self.entry.value = chosen if chosen in ids else next(iter(e.entry_id), None)
        self._draw_entry()
        self._draw_corrects()
        self._draw_supervision()

    def _draw_supervision(self) -> None:
        """What supervision looks at (clause 10.1) in the selected subtree over the twelve months ending with the
        last complete month: late submissions, entries waiting (and for how long), months not reported."""
        lang = self.lang
        month = str(pd.Timestamp.now(tz="UTC").tz_localize(None).to_period("M") - 1)
        found = supervision.inspect(self.lake, self.selected_org(), month, self.lake.snapshot_id())
        counts = dict(zip(*found.summary().to_dict("list").values()))
        set_html(self.supervision_counts, markup(
            '<div class="carbon-note" data-testid="supervision">{}</div>',
            "; ".join(f"{reports_text(k, lang)}: {v}" for k, v in counts.items())
            + f" ({reports_text('supervision_as_of', lang).format(day=found.as_of, deadline=supervision.DEADLINE_DAY, snapshot=found.snapshot)})"))
        self.late_table.value = text_table({
            label("ui_entry", lang): found.late.entry_id, label("ui_org_code", lang): found.late.org_id,
            label("ui_period", lang): [_period_text(a, b) for a, b in zip(found.late.period_start, found.late.period_end)],
            reports_text("deadline", lang): [f"{d:%Y-%m-%d}" for d in found.late.deadline],
            reports_text("days_late", lang): [f"{int(d):,}" for d in found.late.days_late]})
        waiting = found.pending.sort_values("waiting_days", ascending=False)
        self.waiting_table.value = text_table({
            label("ui_entry", lang): waiting.entry_id, label("ui_org_code", lang): waiting.org_id,
            label("ui_status", lang): [label(v, lang, "ledger") for v in waiting.status],
            reports_text("waiting_days", lang): [f"{d:,.0f}" for d in waiting.waiting_days],
            reports_text("comment", lang): waiting.comment.fillna("")})
        self.missing_table.value = text_table({
            label("ui_org_code", lang): found.missing.org_id,
            reports_text("month", lang): [f"{pd.Timestamp(m):%Y-%m}" for m in found.missing.month],
            reports_text("days_overdue", lang): [f"{int(d):,}" for d in found.missing.days_overdue]})

    def _row_clicked(self, event) -> None:
        if 0 <= event.row < len(self.entries) and self.checked():
            self.entry.value = self.entries.entry_id.iloc[event.row]

    def _draw_entry(self) -> None:
        lang, entry_id = self.lang, self.entry.value
        if not entry_id:
            set_html(self.detail, markup('<div class="carbon-note">{}</div>', label("ui_no_entries", lang)))
            self.history.value, self.files.value, self.file_choice.options = pd.DataFrame(), pd.DataFrame(), {}
            return
        entry, steps, files = service.history(auth.security(), self.scope.principal, self.lake.settings, entry_id)
        set_html(self.detail, markup(
            '<div class="carbon-note" data-entry="{}" data-status="{}">{} · {} · {} · {} {} {} · {}: {} · {}</div>',
            entry_id, entry.status, entry_id, entry.org_id, _period_text(entry.period_start, entry.period_end),
            f"{entry.amount:,.3f}".rstrip("0").rstrip("."), entry.unit, activity_label(entry.activity_type, lang),
            label("ui_voucher", lang), entry.evidence_ref, label(entry.status, lang, "ledger")))
        self.history.value = pd.DataFrame({
            label("ui_event_time", lang): [f"{entry.entered_at:%Y-%m-%d %H:%M}",
                                           *(f"{t:%Y-%m-%d %H:%M}" for t in steps.event_time)],
            label("ui_status", lang): [label(entry.entered_status, lang, "ledger"),
                                       *(label(s, lang, "ledger") for s in steps.event)],
            label("ui_actor", lang): [entry.author, *steps.actor],
            label("ui_comment", lang): ["", *(c if isinstance(c, str) else "" for c in steps.comment)],
            label("ui_related_entry", lang): ["", *(r if isinstance(r, str) else "" for r in steps.related_entry_id)]})
        shown = pd.DataFrame({  # text columns: a table keeps the column types of its first value
            label("ui_evidence", lang): files.filename.astype(str), label("ui_evidence_kind", lang):
                pd.Series([label(f"evidence_{k}", lang) for k in files.kind], dtype=object),
            label("ui_size", lang): pd.Series([_size(b) for b in files.size_bytes], dtype=object),
            "SHA-256": files.sha256.str[:16] + "…", label("ui_actor", lang): files.attached_by.astype(str)})
        self.files.value = shown if len(shown) else pd.DataFrame()
        self.file_choice.options = {f"{f.filename} ({f.sha256[:8]})": f.sha256 for f in files.itertuples()}
        self._name_download()

    def _name_download(self) -> None:
        chosen = self.file_choice.value
        names = {v: k.rsplit(" (", 1)[0] for k, v in self.file_choice.options.items()}
        self.download.filename = names.get(chosen, "evidence")

    def _evidence_bytes(self) -> io.BytesIO:
        principal = self.guard(True) if self.guard is not None else self.scope.principal
        _row, content = service.evidence_file(auth.security(), principal, self.lake.settings, self.entry.value,
                                              self.file_choice.value)
        return io.BytesIO(content)

    def _category_changed(self) -> None:
        category = self.new_category.value
        types = catalogue.activity_types(self.lake, category) if category else []
        self.new_type.options = {activity_label(t, self.lang): t for t in types}
        self.new_type.value = types[0] if types else None
        self._type_changed()
        self._draw_corrects()

    def _type_changed(self) -> None:
        """Units the chosen category and type may be in (a gas in Nm3, a liquid or solid fuel by mass)."""
        category, kind = self.new_category.value, self.new_type.value
        units = list(catalogue.units(self.lake, category, kind)) if category else []
        chosen = self.new_unit.value
        self.new_unit.options = units
        self.new_unit.value = chosen if chosen in units else (units[0] if units else None)
        self._draw_preview()

    def _draw_corrects(self) -> None:
        """Entries of the chosen org and category that a new entry may correct (approved or returned)."""
        org, category = self.new_org.value, self.new_category.value
        options = {label("ui_none", self.lang): ""}
        if org and category:
            found = self.lake.query(
                f"SELECT entry_id, period_start, period_end, amount, unit, status FROM "
                f"({views.activity_status_sql(self.lake)}) WHERE org_id = ? AND category = ? "
                "AND status IN ('approved', 'returned') ORDER BY period_start DESC LIMIT 200", [org, category])
            options.update({f"{r.entry_id} · {_period_text(r.period_start, r.period_end)} · {r.amount:g} {r.unit}":
                            r.entry_id for r in found.itertuples()})
        self.new_corrects.options = options

    def _new_entry(self, *, for_preview: bool = False) -> service.NewEntry:
        """The entry the form describes; a missing field is refused naming it (the voucher only when entering)."""
        lang = self.lang
        needed = [("ui_org", self.new_org), ("ui_period", self.new_period), ("ui_activity_type", self.new_type),
                  ("ui_amount", self.new_amount), ("ui_unit", self.new_unit)]
        for key, widget in needed + ([] if for_preview else [("ui_voucher", self.new_voucher)]):
            if widget.value in (None, "") or (isinstance(widget.value, str) and not widget.value.strip()):
                raise ValueError(message("ui_required", lang, field=label(key, lang)))
        if self.new_org.value not in self.enters:
            raise ValueError(message("ui_required", lang, field=label("ui_org", lang)))
        start, end = parse_period(self.new_period.value)
        measured = {k: float(w.value) for k, w in self.new_measured.items() if w.value is not None and w.value == w.value}
        return service.NewEntry(self.new_org.value, start, end, self.new_category.value, self.new_type.value,
                                float(self.new_amount.value), self.new_unit.value, self.new_voucher.value.strip() or "-",
                                **measured)

    def _draw_preview(self) -> None:
        """The figures the entry would add, with the factors used, and a hint when the amount is unusual."""
        lang = self.lang
        try:
            entry = self._new_entry(for_preview=True)
            figures = service.preview(self.lake, entry)
        except ValueError as why:
            filled = self.new_period.value and self.new_amount.value is not None
            set_html(self.preview, markup('<div class="carbon-note" data-testid="preview-none">{}</div>',
                                          str(why) if filled else label("ui_preview_wait", lang)))
            return
        rows = markup("").join(markup('<tr data-item="{}"><td>{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>',
                                      r.item, label(r.item, lang), format_value(r.value, r.unit), r.unit, r.basis)
                               for r in figures.itertuples())
        hint = catalogue.plausibility(self.lake, entry.org_id, entry.category, entry.activity_type, entry.unit,
                                      entry.amount, (entry.period_end - entry.period_start).days + 1)
        hint_html = markup('<div class="carbon-pending" data-testid="plausibility">{}</div>', message(
            "ui_plausibility", lang, ratio=f"{hint[0]:,.1f}", median=f"{hint[1]:,.1f}", unit=entry.unit, n=hint[2])
                           ) if hint else markup("")
        set_html(self.preview, markup('<div data-testid="preview"><div class="carbon-note">{}</div><table class="'
                                      'carbon-table">{}</table>{}</div>', label("ui_preview", lang), rows, hint_html))

    # ------------------------------------------------------------------------------------------ actions
    def _button(self, key: str, work) -> pn.widgets.Button:
        return action_button(self, key, work, self.result, width=170)

    def _uploads(self, widget: pn.widgets.FileInput, kind: str) -> tuple[service.Attachment, ...]:
        values, names = widget.value, widget.filename
        if not values:
            return ()
        if not isinstance(values, list):
            values, names = [values], [names]
        return tuple(service.Attachment(n, v, kind) for n, v in zip(names, values))

    def _enter(self, security, principal, submit: bool) -> str:
        entry = self._new_entry()
        row = service.enter(security, principal, self.lake.settings, entry, submit=submit,
                            corrects=self.new_corrects.value or None, comment=self.comment.value.strip() or None,
                            attachments=self._uploads(self.new_files, self.new_kind.value))
        self.new_files.clear()
        self.new_voucher.value = ""
        self._focus = row.entry_id
        self.status.value = ""
        return f"{row.entry_id} · {label(row.status, self.lang, 'ledger')}"

    def _step(self, security, principal, name: str) -> str:
        if not self.entry.value:
            raise ValueError(label("ui_no_entries", self.lang))
        row = getattr(service, name)(security, principal, self.lake.settings, self.entry.value,
                                     comment=self.comment.value.strip() or None)
        self.comment.value = ""
        return f"{row.entry_id} · {label(row.status, self.lang, 'ledger')}"

    def _attach(self, security, principal) -> str:
        files = self._uploads(self.attach_input, self.attach_kind.value)
        if not files:
            raise ValueError(message("ui_required", self.lang, field=label("ui_evidence", self.lang)))
        found = service.attach(security, principal, self.lake.settings, self.entry.value, files)
        self.attach_input.clear()
        return f"{self.entry.value} · {len(found)} {label('ui_evidence', self.lang)}"

    def layout(self) -> pn.viewable.Viewable:
        """The whole page: what the principal may do decides which sections it shows."""
        lang = self.lang
        parts = [html(header(label("ui_ledger_page", lang))), pn.Row(self.org_select, self.status), self.message,
                 self.result, self.table, html(header(label("ui_entry_history", lang))), self.entry, self.detail,
                 self.history, self.files, pn.Row(self.file_choice, self.download)]
        if self.reviews:
            parts += [html(header(label("ui_review", lang))), self.comment, pn.Row(*self.review_buttons)]
        if self.enters:
            if not self.reviews:
                parts.append(self.comment)
            parts += [pn.Row(self.submit_button, self.attach_kind, self.attach_input, self.attach_button),
                      html(header(label("ui_new_entry", lang))),
                      pn.Row(self.new_org, self.new_period, self.new_category, self.new_type),
                      pn.Row(self.new_amount, self.new_unit, self.new_voucher, self.new_corrects),
                      html(markup('<div class="carbon-note">{}</div>', label("ui_measured_note", lang))),
                      pn.Row(*self.new_measured.values()), pn.Row(self.new_kind, self.new_files), self.preview,
                      pn.Row(self.enter_button, self.draft_button)]
        parts += [html(header(label("ui_supervision", lang))), self.supervision_counts,
                  html(header(reports_text("section_late", lang))), self.late_table,
                  html(header(reports_text("section_pending", lang))), self.waiting_table,
                  html(header(reports_text("section_missing", lang))), self.missing_table]
        self.page = pn.Column(*parts, sizing_mode="stretch_width")
        return self.page


def _period_text(start, end) -> str:
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if start.day == 1 and end == start + pd.offsets.MonthEnd(0):
        return f"{start:%Y-%m}"
    if (start.month, start.day, end.month, end.day) == (1, 1, 12, 31) and start.year == end.year:
        return f"{start:%Y}"
    return f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"


def _size(size_bytes: int) -> str:
    return f"{size_bytes:,} B" if size_bytes < 1024 else f"{size_bytes / 1024:,.1f} KiB" if size_bytes < 1024 ** 2 \
        else f"{size_bytes / 1024 ** 2:,.1f} MiB"


def _step_text(at, by) -> str:
    return "" if pd.isna(at) else f"{pd.Timestamp(at):%Y-%m-%d %H:%M} {by}"


def ledger_page(lake: Lake, scope: Scope | None, args: Mapping[str, str], rollups: rollup_data.Rollups) -> LedgerPage:
    """The ledger page for a request (``org``, ``lang``)."""
    return LedgerPage(lake, scope, args.get("org"), requested_lang(args), rollups)


PAGE_ACTIONS[ledger_page] = "view_figures"
