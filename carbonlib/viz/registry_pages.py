"""The credit registry's public observer view (Voila, ``registry_public.ipynb``; clauses 5.2, 5.4, 6.1.3).

Open to anyone, like the disclosure: credits issued, outstanding, retired, cancelled and in the buffer per
project and vintage; every retirement (beneficiary, purpose, cap year: retirements are public claims); the
prices of recorded trades (market information); a serial-number search giving the unit's block, state and
history; the latest signed checkpoint of the registry's log, to check with ``carbon registry verify
--published`` or the verifier notebook.  No account, holder or balance is shown.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import panel as pn

from ..i18n import label, message
from ..lake import Lake
from ..markup import Markup
from ..markup import html as markup
from ..registry import Registry, RegistryRefused, log
from ..registry.publish import public_summary
from ..security import StoreError
from . import data as rollup_data
from .components import PAGE_ACTIONS, header, html, requested_lang, set_html, table
from .scope import Scope

#: What a serial search shows of each step of a unit's history (no account).
PUBLIC_STEP = ("at", "kind", "quantity", "purpose", "cap_year", "beneficiary")


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
        orgs = self.lake.read("org", columns=["org_id", f"name_{lang}"]).set_index("org_id")[f"name_{lang}"]
        registry = self._registry()
        if registry is None:
            set_html(self.checkpoint, markup('<div class="carbon-refused">{}</div>', label("ui_registry_empty", lang)))
            return
        with registry:
            summary = public_summary(registry)
            retired = registry.retirements()
            points = log.checkpoints(registry.store)
        project = {p: f"{names.loc[p, f'name_{lang}']} ({p})" if p in names.index else p for p in summary.project_id}
        self.summary.value = pd.DataFrame({
            label("ui_registry_project", lang): summary.project_id.map(project),
            label("ui_registry_vintage", lang): summary.vintage.astype(str),
            **{label(f"ui_registry_{c}", lang): summary[c] for c in ("issued", "outstanding", "retired", "cancelled",
                                                                     "buffer")}})
        self.retirements.value = pd.DataFrame({
            label("ui_registry_date", lang): retired.retired_at.str[:10],
            label("ui_registry_project", lang): retired.project_id.map(lambda p: project.get(p, p)),
            label("ui_registry_vintage", lang): retired.vintage.astype(str),
            label("ui_registry_quantity", lang): retired.quantity,
            label("ui_registry_beneficiary", lang): retired.beneficiary.map(lambda b: orgs.get(b, b)),
            label("ui_registry_purpose", lang): retired.purpose.map(lambda p: label(f"ui_registry_{p}", lang)),
            label("ui_registry_cap_year", lang): retired.cap_year.map(lambda y: "" if pd.isna(y) else str(int(y))),
        }).iloc[::-1]
        trades = self.lake.read("credit_event", columns=["event_time", "project_id", "vintage", "quantity_tco2e",
                                                         "price_cny"],
                                where="event_type = 'transfer' AND price_cny IS NOT NULL").sort_values("event_time")
        self.trades.value = pd.DataFrame({
            label("ui_registry_date", lang): trades.event_time.dt.strftime("%Y-%m-%d"),
            label("ui_registry_project", lang): trades.project_id.map(lambda p: project.get(p, p)),
            label("ui_registry_vintage", lang): trades.vintage.astype(str),
            label("ui_registry_quantity", lang): trades.quantity_tco2e.astype("int64"),
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
        except ValueError as refused:  # not a number, or a serial never issued (RegistryRefused)
            shown = str(refused) if isinstance(refused, RegistryRefused) else message("ui_registry_not_a_serial", lang,
                                                                                         text=text[:30])
            set_html(self.found, markup('<div class="carbon-refused" data-testid="serial-refused">{}</div>', shown))
            return
        block = found["block"]
        steps = Markup("").join(markup("<li>{} · {} · {}</li>", step["at"][:10], label(f"ui_registry_step_{step['kind']}", lang),
                                       f"{step['quantity']:,}") for step in found["history"])
        set_html(self.found, markup(
            '<div class="carbon-serial" data-state="{}"><b>{}</b> · {} · {}<ul>{}</ul></div>', block.state, block.label,
            label(f"ui_registry_state_{block.state}", lang), message("ui_registry_of", lang, project=block.project_id,
                                                                      vintage=block.vintage), steps))

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
