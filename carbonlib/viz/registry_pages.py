"""The credit registry's pages: the operators' page (Panel, ``/registry``) and the public observer view (Voila,
``registry_public.ipynb``); clauses 5.2, 5.3, 5.4, 6.1.3.

The operators' page shows the projects of the selected subtree with their lifecycle, the balances and pending
transfers, and forms for every operation; each button calls :mod:`carbonlib.registry.service` as the logged-in
principal (session checked again first), which authorises and audits it: a refusal is shown, nothing is
half-written.

The public observer view is open to anyone, like the disclosure: credits issued, outstanding, retired, cancelled and in the buffer per
project and vintage; every retirement (beneficiary, purpose, cap year: retirements are public claims); the
prices of recorded trades (market information); a serial-number search giving the unit's block, state and
history, and for a retired unit its retirement certificate (:mod:`carbonlib.registry.certificate`); the latest signed checkpoint of the registry's log, to check with ``carbon registry verify
--published`` or the verifier notebook.  No account, holder or balance is shown.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date

import pandas as pd
import panel as pn

from ..accounting import views
from ..i18n import MESSAGES, label, message
from ..lake import Lake
from ..markup import Markup
from ..markup import html as markup
from ..lake.schema import RETIREMENT_PURPOSES
from ..registry import Registry, RegistryRefused, log
from ..registry import claims, projects
from ..registry import service as registry_service
from ..registry.book import DEFAULT_BUFFER_SHARE, REVERSAL_CAUSES
from ..registry.projects import CHECKLISTS, NEXT_STEPS
from ..registry.publish import certificate_page, public_summary
from ..security import StoreError
from . import data as rollup_data
from .components import (PAGE_ACTIONS, _ScopedView, action_button, header, html, requested_lang, set_html, table,
                         text_table)
from .scope import Scope

#: What a serial search shows of each step of a unit's history (no account).
PUBLIC_STEP = ("at", "kind", "quantity", "purpose", "cap_year", "beneficiary")


def _project_word(word: str, lang: str) -> str:
    """A project status or lifecycle event in ``lang`` (an event type the catalogue does not know: as written)."""
    key = f"ui_project_{word}"
    return label(key, lang) if key in MESSAGES else word


def _count(value) -> str:
    """A whole number of credits with thousands separators (tables hold text: see ``text_table``)."""
    return f"{int(value):,}"


class RegistryObserver:
    """The public observer view (see module doc); everything is read when the page is built and on a search."""

    def __init__(self, lake: Lake, lang: str = "zh"):
        self.lake, self.lang = lake, lang
        self.guard = self.audit = None  # a public page: nothing to re-check, nothing to audit
        self.summary = table(lang, pagination="local", page_size=10)
        self.retirements = table(lang, pagination="local", page_size=10)
        self.trades = table(lang, pagination="local", page_size=10)
        self.checkpoint = html(sizing_mode="stretch_width")
        self.serial = pn.widgets.TextInput(name=label("ui_registry_serial", lang), placeholder="1759", width=220)
        self.search = pn.widgets.Button(name=label("ui_registry_search", lang), button_type="primary", width=120)
        self.found = html(sizing_mode="stretch_width")
        self.search.on_click(lambda _: self.look_up())
        self.serial.param.watch(lambda _: self.look_up(), "enter_pressed")
        self.refresh()

    def _registry(self) -> Registry | None:
        try:
            return Registry.open(self.lake.settings, create=False)
        except StoreError:
            return None

    def refresh(self) -> None:
        """Read the summary, the retirements, the trades and the latest checkpoint."""
        lang = self.lang
        names = self.lake.read("credit_project", columns=["project_id", "name_zh", "name_en"]).set_index("project_id")
        orgs = views.org_tree(self.lake).set_index("org_id")[f"name_{lang}"]
        registry = self._registry()
        if registry is None:
            set_html(self.checkpoint, markup('<div class="carbon-refused">{}</div>', label("ui_registry_empty", lang)))
            return
        with registry:
            summary = public_summary(registry)
            retired = registry.retirements()
            points = log.checkpoints(registry.store)
        project = {p: f"{names.loc[p, f'name_{lang}']} ({p})" if p in names.index else p for p in summary.project_id}
        self.summary.value = text_table({
            label("ui_registry_project", lang): summary.project_id.map(project),
            label("ui_registry_vintage", lang): summary.vintage.astype(str),
            **{label(f"ui_registry_{c}", lang): summary[c].map(_count) for c in ("issued", "outstanding", "retired", "cancelled",
                                                                     "buffer", "exported")}})
        self.retirements.value = text_table({
            label("ui_registry_date", lang): retired.retired_at.str[:10],
            label("ui_registry_project", lang): retired.project_id.map(lambda p: project.get(p, p)),
            label("ui_registry_vintage", lang): retired.vintage.astype(str),
            label("ui_registry_quantity", lang): retired.quantity.map(_count),
            label("ui_registry_beneficiary", lang): retired.beneficiary.map(lambda b: orgs.get(b, b)),
            label("ui_registry_purpose", lang): retired.purpose.map(lambda p: label(f"ui_registry_{p}", lang)),
            label("ui_registry_cap_year", lang): retired.cap_year.map(lambda y: "" if pd.isna(y) else str(int(y))),
        }).iloc[::-1].reset_index(drop=True)
        trades = self.lake.read("credit_event", columns=["event_time", "project_id", "vintage", "quantity_tco2e",
                                                         "price_cny"],
                                where="event_type = 'transfer' AND price_cny IS NOT NULL"
                                ).sort_values("event_time", ignore_index=True)
        self.trades.value = text_table({
            label("ui_registry_date", lang): trades.event_time.dt.strftime("%Y-%m-%d"),
            label("ui_registry_project", lang): trades.project_id.map(lambda p: project.get(p, p)),
            label("ui_registry_vintage", lang): trades.vintage.astype(str),
            label("ui_registry_quantity", lang): trades.quantity_tco2e.map(_count),
            label("ui_registry_price", lang): trades.price_cny.map(lambda v: f"{v:,.2f}"),
        })
        if points:
            last = points[-1]
            set_html(self.checkpoint, markup(
                '<div class="carbon-checkpoint" data-tree-size="{}">{}</div>', last.tree_size,
                message("ui_registry_checkpoint", lang, size=f"{last.tree_size:,}", root=last.root_hash,
                        key=last.key_id, at=last.at[:19].replace("T", " "))))

    def look_up(self) -> None:
        """Show the block, state and public history of the serial typed in."""
        lang, text = self.lang, self.serial.value.strip()
        registry = self._registry()
        try:
            number = int(text)
            if registry is None:
                raise RegistryRefused(label("ui_registry_empty", lang))
            with registry:
                found = registry.lookup(number)
                retired = [step for step in found["history"] if step["kind"] == "retire"]
                page = (certificate_page(registry, retired[-1]["retirement_id"], sign=False)
                        if found["block"].state == "retired" and retired else None)
        except ValueError as refused:  # not a number, or a serial never issued (RegistryRefused)
            shown = str(refused) if isinstance(refused, RegistryRefused) else message("ui_registry_not_a_serial", lang,
                                                                                         text=text[:30])
            set_html(self.found, markup('<div class="carbon-refused" data-testid="serial-refused">{}</div>', shown))
            return
        block = found["block"]
        steps = Markup("").join(markup("<li>{} · {} · {}</li>", step["at"][:10], label(f"ui_registry_step_{step['kind']}", lang),
                                       f"{step['quantity']:,}") for step in found["history"])
        shown = markup(
            '<div class="carbon-serial" data-state="{}"><b>{}</b> · {} · {}<ul>{}</ul></div>', block.state, block.label,
            label(f"ui_registry_state_{block.state}", lang), message("ui_registry_of", lang, project=block.project_id,
                                                                      vintage=block.vintage), steps)
        if block.state == "retired":
            shown += self._certificate(retired[-1]["retirement_id"], page)
        set_html(self.found, shown)

    def _certificate(self, retirement_id: str, page: str | None) -> Markup:
        """A retirement's certificate shown in a sandboxed frame, with a link to download it (it verifies offline
        with the registry's public key); a note while no signed checkpoint covers it yet."""
        lang = self.lang
        if page is None:
            return markup('<div class="carbon-certificate-pending">{}</div>', label("ui_registry_certificate_pending", lang))
        link = "data:text/html;charset=utf-8;base64," + base64.b64encode(page.encode()).decode()
        return markup('<div class="carbon-certificate" data-retirement="{id}"><a download="{id}.html" href="{link}">{text}'
                      '</a><iframe sandbox="" srcdoc="{page}" title="{id}" style="width:100%;height:620px;border:0">'
                      '</iframe></div>', id=retirement_id, link=link, text=label("ui_registry_certificate_download", lang),
                      page=page)

    def layout(self) -> pn.viewable.Viewable:
        lang = self.lang
        return pn.Column(html(header(label("ui_registry_public", lang))), self.checkpoint,
                         html(header(label("ui_registry_summary", lang))), self.summary,
                         html(header(label("ui_registry_search_title", lang))), pn.Row(self.serial, self.search),
                         self.found, html(header(label("ui_registry_retirements", lang))), self.retirements,
                         html(header(label("ui_registry_trades", lang))), self.trades, sizing_mode="stretch_width")


def registry_public_page(lake: Lake, scope: Scope | None, args: Mapping[str, str],
                         rollups: rollup_data.Rollups) -> RegistryObserver:
    """The public observer view for a request (``lang``); open to anyone."""
    return RegistryObserver(lake, requested_lang(args))


PAGE_ACTIONS[registry_public_page] = None


class RegistryPage(_ScopedView):
    """The registry operators' page (see module doc) for the selected org's subtree."""

    def __init__(self, lake: Lake, scope: Scope, org: str | None = None, lang: str = "zh",
                 rollups: rollup_data.Rollups | None = None):
        org_id, refused = scope.clamp(org)
        super().__init__(lake, rollups or rollup_data.rollups(lake), scope.tree, org_id, lang, refused)
        self.scope = scope
        self.result = html(sizing_mode="stretch_width")
        self.projects = table(lang, pagination="local", page_size=10)
        self.history = table(lang, pagination="local", page_size=10)
        self.balances = table(lang, pagination="local", page_size=15)
        self.pending = table(lang, pagination="local", page_size=10)
        everyone = rollups.tree if rollups is not None else scope.tree
        leaves = everyone[everyone.level.isin(["enterprise", "site"])]
        recipients = {f"{n} ({o})": o for o, n in zip(leaves.org_id, leaves[f"name_{lang}"])}

        def select(key: str, width: int = 260, **kw) -> pn.widgets.Select:
            return pn.widgets.Select(name=label(key, lang), width=width, **kw)

        def number(key: str, value=None, width: int = 130, **kw) -> pn.widgets.IntInput:
            return pn.widgets.IntInput(name=label(key, lang), value=value, width=width, **kw)

        def text(key: str, width: int = 220, **kw) -> pn.widgets.TextInput:
            return pn.widgets.TextInput(name=label(key, lang), width=width, **kw)

        self.project = select("ui_registry_project", 360)
        self.verification = select("ui_registry_verification", 220)
        self.vintage = number("ui_registry_vintage", 2025, start=2000, end=2100, width=100)
        self.quantity = number("ui_registry_quantity", 100, start=1)
        self.buffer = pn.widgets.FloatInput(name=label("ui_registry_buffer_share", lang), value=DEFAULT_BUFFER_SHARE,
                                            start=0.0, end=0.95, step=0.05, width=130)
        self.holder = select("ui_registry_holder", 320)
        self.recipient = select("ui_registry_recipient", 320, options=recipients)
        self.price = pn.widgets.FloatInput(name=label("ui_registry_price", lang), value=None, start=0.0, width=150)
        self.beneficiary = text("ui_registry_beneficiary")
        self.purpose = select("ui_registry_purpose", 160,
                              options={label(f"ui_registry_{p}", lang): p for p in RETIREMENT_PURPOSES})
        self.cap_year = number("ui_registry_cap_year", None, start=2000, end=2100, width=110)
        self.pledgee = text("ui_registry_pledgee")
        self.reason = text("ui_registry_reason", 300)
        self.cause = select("ui_registry_cause", 160,
                            options={label(f"ui_registry_cause_{c}", lang): c for c in REVERSAL_CAUSES})
        self.step = select("ui_registry_step", 200)
        self.body = text("ui_registry_body", 220)
        self.on = pn.widgets.DatePicker(name=label("ui_registry_on", lang), value=date.today(), width=150)
        self.note = text("ui_note", 320)
        self.checklist = pn.widgets.MultiChoice(name=label("ui_registry_checklist", lang), options={}, width=520)
        self.document = pn.widgets.FileInput(accept=".pdf,.png,.jpg,.jpeg,.xlsx,.csv")
        self.claims = table(lang, pagination="local", page_size=10)
        self.transfer = select("ui_registry_transfer", 420)
        self.pledge_choice = select("ui_registry_pledge", 420)
        self.buttons = {key: action_button(self, f"ui_registry_do_{key}", work, self.result, width=150) for key, work in (
            ("open", self._open), ("issue", self._issue), ("request", self._request), ("accept", self._accept), ("reject", self._reject),
            ("withdraw", self._withdraw), ("retire", self._retire), ("pledge", self._pledge),
            ("release", self._release), ("cancel", self._cancel), ("reversal", self._reversal), ("step", self._step))}
        self.org_select.param.watch(lambda _: self.reload(), "value")
        self.project.param.watch(lambda _: self._draw_project(), "value")
        self.step.param.watch(lambda _: self._draw_checklist(), "value")
        self.reload()

    # ------------------------------------------------------------------------------------------ drawing
    def reload(self) -> None:
        """Read the subtree's projects, balances and pending transfers again (after every action)."""
        lang = self.lang
        subtree = self.inside(self.selected_org())
        inside = set(subtree.org_id)
        leaves = subtree[subtree.level.isin(["enterprise", "site"])]
        keep = self.holder.value
        self.holder.options = {f"{self.name(o)} ({o})": o for o in leaves.org_id}
        self.holder.value = keep if keep in inside else next(iter(self.holder.options.values()), None)
        try:
            with Registry.open(self.lake.settings, create=False) as registry:
                balances, transfers = registry.balances(), registry.transfers("requested")
                pledges = registry.pledges()
        except StoreError:  # no registry yet: nothing issued
            balances = pd.DataFrame(columns=["org_id", "account_id", "project_id", "vintage", "state", "quantity",
                                             "reserved"])
            transfers = pd.DataFrame(columns=["transfer_id", "from_account", "to_account", "project_id", "vintage",
                                              "quantity", "price_cny"], dtype=object)
            pledges = pd.DataFrame(columns=["pledge_id", "account_id", "pledgee", "quantity", "released_at"], dtype=object)
        balances = balances[balances.org_id.isin(inside)].reset_index(drop=True)
        projects = self.lake.read("credit_project")  # the subtree's own projects and those whose credits it holds
        self._projects = projects[projects.org_id.isin(inside) | projects.project_id.isin(set(balances.project_id))
                                  ].reset_index(drop=True)
        steps = self.lake.read("project_event", columns=["project_id", "event_type", "event_date"])
        latest = steps.sort_values("event_date", kind="stable").groupby("project_id").event_type.last().to_dict()
        keep = self.project.value
        self.project.options = {f"{n} ({p})": p for p, n in zip(self._projects.project_id, self._projects[f"name_{lang}"])}
        self.project.value = keep if keep in set(self._projects.project_id) else next(iter(self.project.options.values()),
                                                                                      None)
        self.projects.value = text_table({
            label("ui_registry_project", lang): self._projects.project_id,
            label("ui_name", lang): self._projects[f"name_{lang}"],
            label("ui_registry_status", lang): [_project_word(latest.get(p, v), lang)
                                                for p, v in zip(self._projects.project_id, self._projects.status)],
            label("ui_org_code", lang): self._projects.org_id,
            label("ui_registry_crediting", lang): [f"{a:%Y} – {b:%Y}" for a, b in zip(
                pd.to_datetime(self._projects.crediting_start), pd.to_datetime(self._projects.crediting_end))]})
        self.balances.value = text_table({
            label("ui_registry_account", lang): balances.account_id, label("ui_registry_project", lang): balances.project_id,
            label("ui_registry_vintage", lang): balances.vintage.astype(str),
            label("ui_registry_state", lang): [label(f"ui_registry_state_{s}", lang) for s in balances.state],
            label("ui_registry_quantity", lang): balances.quantity.map(_count),
            label("ui_registry_reserved", lang): balances.reserved.map(_count)})
        mine = transfers[transfers.from_account.str[4:].isin(inside) | transfers.to_account.str[4:].isin(inside)
                         ].reset_index(drop=True)
        self.pending.value = text_table({
            label("ui_registry_transfer", lang): mine.transfer_id, label("ui_registry_holder", lang): mine.from_account,
            label("ui_registry_recipient", lang): mine.to_account, label("ui_registry_project", lang): mine.project_id,
            label("ui_registry_vintage", lang): mine.vintage.astype(str),
            label("ui_registry_quantity", lang): mine.quantity.map(_count),
            label("ui_registry_price", lang): mine.price_cny.map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")})
        self._draw_claims()
        self.transfer.options = {f"{t} · {f} → {to} · {q:,}": t for t, f, to, q in zip(
            mine.transfer_id, mine.from_account, mine.to_account, mine.quantity)}
        live = pledges[pledges.released_at.isna() & pledges.account_id.str[4:].isin(inside)]
        self.pledge_choice.options = {f"{p} · {a} · {q:,} → {g}": p for p, a, q, g in zip(
            live.pledge_id, live.account_id, live.quantity, live.pledgee)}
        self._draw_project()

    def _draw_project(self) -> None:
        lang, project = self.lang, self.project.value
        events = self.lake.read("project_event", where="project_id = ?", params=[project or ""]
                                ).sort_values("event_date", ignore_index=True)
        self.history.value = text_table({
            label("ui_registry_date", lang): events.event_date.astype(str),
            label("ui_event", lang): [_project_word(v, lang) for v in events.event_type],
            label("ui_actor", lang): events.actor, label("ui_note", lang): events.note.fillna("")})
        verified = events[events.event_type == "verified"].event_id
        self.verification.options = list(verified)[::-1]
        self.verification.value = next(iter(self.verification.options), None)
        last = str(events.event_type.iloc[-1]) if len(events) else None
        self.step.options = {_project_word(step, lang): step for step in NEXT_STEPS.get(last, ()) if step != "initiated"}
        self.step.value = next(iter(self.step.options.values()), None)
        self._draw_checklist()

    def _draw_checklist(self) -> None:
        """The checklist items of the chosen step (post-evaluation and acceptance answer every one)."""
        items = CHECKLISTS.get(self.step.value, ())
        self.checklist.options = {label(f"ui_checklist_{item}", self.lang): item for item in items}
        self.checklist.value = []
        self.checklist.visible = bool(items)

    def _draw_claims(self) -> None:
        """The double claims that touch the subtree's projects (:mod:`carbonlib.registry.claims`)."""
        lang = self.lang
        found = claims.double_claims(self.lake)
        mine = set(self._projects.project_id)
        found = found[found.project_id.isin(mine) | found.other_project_id.isin(mine)].reset_index(drop=True)
        if found.empty:
            found = pd.DataFrame({"kind": ["none"], "project_id": [""], "other_project_id": [""], "amount": [None],
                                  "unit": [""], "detail": [label("ui_registry_no_claims", lang)]})
        self.claims.value = text_table({
            label("ui_registry_claim", lang): [label(f"ui_claim_{k}", lang) for k in found.kind],
            label("ui_registry_project", lang): found.project_id.fillna(""),
            label("ui_registry_other_project", lang): found.other_project_id.fillna(""),
            label("ui_registry_amount", lang): [f"{a:,.2f} {u}" if pd.notna(a) else "" for a, u in zip(found.amount,
                                                                                                     found.unit)],
            label("ui_registry_detail", lang): found.detail})

    # ------------------------------------------------------------------------------------------ actions
    def _done(self, done: dict) -> str:
        quantity = f" · {done['quantity']:,}" if "quantity" in done else ""
        return f"{label('ui_registry_step_' + done['kind'], self.lang)} · {done['op_id']}{quantity}"

    def _units(self) -> tuple:
        if self.project.value is None or self.quantity.value is None:
            raise ValueError(message("ui_required", self.lang, field=label("ui_registry_quantity", self.lang)))
        return self.project.value, int(self.vintage.value), int(self.quantity.value)

    def _open(self, security, principal) -> str:
        done = registry_service.open_accounts(security, principal, self.lake.settings, self.holder.value)
        return f"{label('ui_registry_step_open_accounts', self.lang)} · {', '.join(done['accounts'])}"

    def _issue(self, security, principal) -> str:
        project, vintage, quantity = self._units()
        return self._done(registry_service.issue(security, principal, self.lake.settings, project, vintage, quantity,
                                                 verification_ref=self.verification.value or "",
                                                 buffer_share=float(self.buffer.value or 0.0)))

    def _request(self, security, principal) -> str:
        project, vintage, quantity = self._units()
        return self._done(registry_service.request_transfer(security, principal, self.lake.settings, self.holder.value,
                                                            self.recipient.value, project, vintage, quantity,
                                                            price_cny=self.price.value))

    def _decide(self, security, principal, decide) -> str:
        if not self.transfer.value:
            raise ValueError(message("ui_required", self.lang, field=label("ui_registry_transfer", self.lang)))
        return self._done(decide(security, principal, self.lake.settings, self.transfer.value))

    def _accept(self, security, principal) -> str:
        return self._decide(security, principal, registry_service.accept_transfer)

    def _reject(self, security, principal) -> str:
        return self._decide(security, principal, registry_service.reject_transfer)

    def _withdraw(self, security, principal) -> str:
        return self._decide(security, principal, registry_service.cancel_transfer)

    def _retire(self, security, principal) -> str:
        project, vintage, quantity = self._units()
        cap_year = int(self.cap_year.value) if self.cap_year.value is not None else None
        return self._done(registry_service.retire(security, principal, self.lake.settings, self.holder.value, project,
                                                  vintage, quantity, beneficiary=self.beneficiary.value,
                                                  purpose=self.purpose.value, cap_year=cap_year))

    def _pledge(self, security, principal) -> str:
        project, vintage, quantity = self._units()
        return self._done(registry_service.pledge(security, principal, self.lake.settings, self.holder.value, project,
                                                  vintage, quantity, pledgee=self.pledgee.value))

    def _release(self, security, principal) -> str:
        if not self.pledge_choice.value:
            raise ValueError(message("ui_required", self.lang, field=label("ui_registry_pledge", self.lang)))
        holder = self.pledge_choice.labels[self.pledge_choice.values.index(self.pledge_choice.value)].split(" · ")[1][4:]
        return self._done(registry_service.release(security, principal, self.lake.settings, holder,
                                                   self.pledge_choice.value))

    def _cancel(self, security, principal) -> str:
        project, vintage, quantity = self._units()
        return self._done(registry_service.cancel(security, principal, self.lake.settings, self.holder.value, project,
                                                  vintage, quantity, reason=self.reason.value))

    def _reversal(self, security, principal) -> str:
        project, _, quantity = self._units()
        return self._done(registry_service.report_reversal(security, principal, self.lake.settings, project, quantity,
                                                           cause=self.cause.value, note=self.reason.value))

    def _step(self, security, principal) -> str:
        if not self.project.value or not self.step.value:
            raise ValueError(message("ui_required", self.lang, field=label("ui_registry_step", self.lang)))
        document = (self.document.filename, self.document.value) if self.document.value else None
        step = self.step.value
        row = projects.record_step(security, principal, self.lake.settings, self.project.value, step,
                                   body=self.body.value, on=self.on.value or date.today(), note=self.note.value,
                                   vintage=int(self.vintage.value) if step in ("monitoring_report", "verified") else None,
                                   checklist={item: True for item in self.checklist.value}, document=document)
        return f"{_project_word(step, self.lang)} · {row.name}"

    def layout(self) -> pn.viewable.Viewable:
        """The whole page."""
        lang, b = self.lang, self.buttons
        self.page = pn.Column(
            html(header(label("ui_registry_page", lang))), self.org_select, self.message, self.result,
            html(header(label("ui_registry_projects", lang))), self.projects, self.project, self.history,
            pn.Row(self.step, self.body, self.on, self.note), pn.Row(self.checklist, self.document, b["step"]),
            html(header(label("ui_registry_claims", lang))), self.claims,
            html(header(label("ui_registry_balances", lang))), self.balances,
            html(header(label("ui_registry_units", lang))),
            pn.Row(self.vintage, self.quantity),
            pn.Row(self.verification, self.buffer, b["issue"]),
            pn.Row(self.holder, b["open"]),
            pn.Row(self.recipient, self.price, b["request"]),
            pn.Row(self.beneficiary, self.purpose, self.cap_year, b["retire"]),
            pn.Row(self.pledgee, b["pledge"], self.reason, b["cancel"]),
            pn.Row(self.cause, b["reversal"]),
            html(header(label("ui_registry_pending", lang))), self.pending,
            pn.Row(self.transfer, b["accept"], b["reject"], b["withdraw"]),
            pn.Row(self.pledge_choice, b["release"]),
            sizing_mode="stretch_width")
        return self.page


def registry_page(lake: Lake, scope: Scope | None, args: Mapping[str, str],
                  rollups: rollup_data.Rollups) -> RegistryPage:
    """The registry operators' page for a request (``org``, ``lang``)."""
    return RegistryPage(lake, scope, args.get("org"), requested_lang(args), rollups)


PAGE_ACTIONS[registry_page] = "operate_registry"
