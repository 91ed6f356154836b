"""Retirement certificates (clause 5.2): a one-page, bilingual (zh/en) HTML document per retirement that
anyone can check with nothing but the registry's public key.

A certificate is rendered only from the published facts: the retirement's log leaf (beneficiary, purpose,
cap year, quantity, serial ranges, time), its inclusion proof and the signed checkpoint the proof leads to
(:func:`carbonlib.registry.publish.retirement_record`).  Those facts are embedded in the page as JSON, and
the page is a pure function of them, so :func:`carbonlib.registry.verify.verify_certificate` checks the
checkpoint's signature, the inclusion proof, and that the visible page is exactly the rendering of the
proven facts: an edited name, quantity or date on a certificate fails.  The page's phrases
(``certificate_*`` in :mod:`carbonlib.i18n`) are therefore part of format :data:`FORMAT`.  Print it to
PDF with ``carbon registry certificate ID --pdf`` (headless Chromium).  Self-contained: no script, font
or style sheet is fetched.
"""

from __future__ import annotations

import json
import re

from ..i18n import label
from ..markup import Markup, html, join

FORMAT = "carbon-retirement-certificate/v1"
#: Where the embedded facts sit in the page.
FACTS_ID = "carbon-retirement-facts"
_FACTS = re.compile(r'<script type="application/json" id="' + FACTS_ID + r'">(.*?)</script>', re.S)
_STYLE = ("@page {size: A4; margin: 18mm;} body {font-family: 'Noto Sans CJK SC', 'WenQuanYi Zen Hei', 'DejaVu Sans', "
          "sans-serif; color: #1f2933; margin: 0;} .sheet {border: 3px double #23895a; padding: 28px 36px; "
          "max-width: 720px; margin: 24px auto;} h1 {text-align: center; color: #23895a; margin: 0 0 4px; "
          "font-size: 26px;} .sub {text-align: center; color: #52606d; margin: 0 0 24px;} table {width: 100%; "
          "border-collapse: collapse;} th {text-align: left; width: 34%; color: #52606d; font-weight: normal; "
          "padding: 6px 8px 6px 0; vertical-align: top;} td {padding: 6px 0; vertical-align: top;} "
          ".big {font-size: 20px; font-weight: bold;} .proof {margin-top: 22px; border-top: 1px solid #cbd2d9; "
          "padding-top: 12px; font-size: 11px; color: #52606d;} .proof code {word-break: break-all;} "
          "h2 {font-size: 14px; margin: 0 0 6px;}")


def _both(key: str, separator: str = " · ", **fields: object) -> str:
    """The phrase ``certificate_<key>`` in Chinese, then in English."""
    return separator.join(label(f"certificate_{key}", lang).format(**fields) for lang in ("zh", "en"))


def _row(key: str, value: Markup | str) -> Markup:
    return html("<tr><th>{}</th><td>{}</td></tr>", _both(key), value)


def render(record: dict, checkpoint: dict) -> str:
    """The certificate page of a published retirement ``record`` (retirement_id, leaf, index, tree_size, proof)
    under the signed ``checkpoint`` of that tree size (a ``checkpoints.json`` entry)."""
    facts = json.loads(record["leaf"])
    ranges = join(", ", [f"{start:,} – {end:,}" for start, end in facts["ranges"]])
    embedded = json.dumps({"format": FORMAT, "record": record, "checkpoint": checkpoint}, sort_keys=True,
                          ensure_ascii=True)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):  # inert inside <script>
        embedded = embedded.replace(char, code)
    quantity = f"{facts['quantity']:,}"
    rows = join("", [
        _row("no", html("<code>{}</code>", facts["retirement_id"])),
        _row("beneficiary", html('<span class="big">{}</span>', facts["beneficiary"])),
        _row("quantity", html('<span class="big">{}</span> tCO<sub>2</sub>e ({} {})', quantity, quantity,
                              _both("credits"))),
        _row("purpose", _both(facts["purpose"], year=facts.get("cap_year"))),
        _row("project", facts["project_id"]),
        _row("vintage", str(facts["vintage"])),
        _row("serials", ranges),
        _row("retired_at", facts["at"][:19].replace("T", " ")),
    ])
    proof = html(
        '<div class="proof"><h2>{heading}</h2><p>{included}</p>'
        "<p>{root}: <code>{root_hash}</code><br>{at}: {checkpoint_at}<br>{key}: <code>{key_id}</code></p>"
        "<p>{verify}: <code>carbon registry verify --certificate {id}.html --key registry-public-key.pem</code> "
        "{notebook} (notebooks/explore/registry_verifier.ipynb).</p></div>",
        heading=_both("verifiable"), included=_both("included", " ", index=record["index"], size=f"{record['tree_size']:,}"),
        root=_both("root"), root_hash=checkpoint["root_hash"], at=_both("checkpoint_at"), checkpoint_at=checkpoint["at"],
        key=_both("key"), key_id=checkpoint["key_id"], verify=_both("verify"), notebook=_both("notebook"),
        id=facts["retirement_id"])
    page = html(
        '<!DOCTYPE html>\n<html lang="zh"><head><meta charset="utf-8"><title>{title}</title><style>{style}</style>'
        '</head><body><div class="sheet"><h1>{zh}</h1><p class="sub">{en}</p><table>{rows}</table>{proof}</div>'
        '<script type="application/json" id="{facts_id}">{embedded}</script></body></html>\n',
        title=f"{facts['retirement_id']} · {_both('title')}", style=Markup(_STYLE),
        zh=label("certificate_title", "zh"), en=label("certificate_title", "en"), rows=rows, proof=proof,
        facts_id=FACTS_ID, embedded=Markup(embedded))
    return str(page)


def embedded_facts(page: str) -> dict:
    """The facts embedded in a certificate page: ``{"format": …, "record": …, "checkpoint": …}`` (ValueError
    without them, or of another format)."""
    found = _FACTS.search(page)
    if found is None:
        raise ValueError("not a retirement certificate: it embeds no facts")
    embedded = json.loads(found.group(1))
    if embedded.get("format") != FORMAT:
        raise ValueError(f"certificate format {embedded.get('format')!r} is not {FORMAT}")
    return embedded
