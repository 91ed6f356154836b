"""The registry's book of units: every operation one transaction that keeps the invariants.

Invariants (each operation checks them before it writes; the store refuses the rest):

* serial ranges never overlap, and a block's quantity is its range's length (blocks *are* ranges);
* balances never go negative: an operation takes existing units of one state in one account,
  splitting a block where it takes part of it;
* retired, cancelled and exported units are terminal: nothing takes them again;
* pledged units cannot move (transfer, retire, cancel take only held units), nor can units a
  pending transfer reserves or a pending export holds; exported units have left for good;
* for every project and vintage, issued = held + pledged + retired + cancelled + buffer + pending_export
  + exported
  (:meth:`Registry.reconcile`, which also re-derives each state's total from the log).

Quantities are whole credits (one credit = one tCO2e).  A refused operation raises
:class:`RegistryRefused` and writes nothing.  This class knows accounts, not people: who may do
what is :mod:`carbonlib.registry.service`'s job, which calls it inside an audited operation.
"""

from __future__ import annotations

import json
import math
import numbers
import secrets
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import pandas as pd

from ..security.store import Transaction, now
from ..settings import Settings
from . import log, serials
from .store import ACCOUNT_KINDS, PURPOSES, STATES, RegistryStore, location, signing_keys

#: Largest quantity one operation may move (a province issues far less in a year).
MAX_QUANTITY = 10**12
#: Default share of each issuance that goes to the buffer pool (Verra AFOLU non-permanence risk
#: tool: buffer withholding of 10-60 % by risk score; 20 % is a mid-range default).
DEFAULT_BUFFER_SHARE = 0.20
REVERSAL_CAUSES = ("fire", "pests", "illegal_logging", "storm", "other")
_BLOCK = "block_id, project_id, vintage, batch_id, serial_start, serial_end, account_id, state, reserved_by, pledge_id"


class RegistryRefused(ValueError):
    """An operation the registry's rules refuse; the message says which rule and what is possible.
    Nothing was written."""


@dataclass(frozen=True)
class Block:
    block_id: int
    project_id: str
    vintage: int
    batch_id: str
    serial_start: int
    serial_end: int
    account_id: str
    state: str
    reserved_by: str | None
    pledge_id: str | None

    @property
    def quantity(self) -> int:
        return self.serial_end - self.serial_start + 1

    @property
    def label(self) -> str:
        return serials.label(self.project_id, self.vintage, self.batch_id, self.serial_start, self.serial_end)


def account_id(org_id: str, kind: str = "holding") -> str:
    """The id of ``org_id``'s registry account of ``kind`` (``ACC-``, ``RET-``, ``CAN-``, ``BUF-`` + org)."""
    return f"{ACCOUNT_KINDS[kind]}-{org_id}"


def whole_quantity(value: object, what: str = "quantity") -> int:
    """``value`` as a whole, positive number of credits; RegistryRefused otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RegistryRefused(f"{what}: {value!r} is not a number of credits")
    if not math.isfinite(value) or value != int(value):
        raise RegistryRefused(f"{what}: {value!r} is not a whole number; credits are whole tCO2e")
    if value <= 0:
        raise RegistryRefused(f"{what}: {value!r} must be positive")
    if value > MAX_QUANTITY:
        raise RegistryRefused(f"{what}: {value:,.0f} is above the registry's limit of {MAX_QUANTITY:,} per operation")
    return int(value)


def _text(value: object, what: str, limit: int = 200) -> str:
    text = str(value or "").strip()
    if not text:
        raise RegistryRefused(f"{what}: give the {what.replace('_', ' ')}")
    if len(text) > limit:
        raise RegistryRefused(f"{what}: at most {limit} characters")
    return text


class Registry:
    """The registry of one deployment (see module doc); open with :meth:`open`, close when done."""

    def __init__(self, store: RegistryStore, keys):
        self.store = store
        self.keys = keys
        #: The time stamp of the next operation (UTC ISO text) and the random part of its id; the demo
        #: replaces both to build the same registry from the same seed.
        self.clock: Callable[[], str] = now
        self.new_id: Callable[[], str] = lambda: secrets.token_hex(6)

    @classmethod
    def open(cls, settings: Settings, *, create: bool = True) -> "Registry":
        """The registry of ``settings``; its store and signing key are made on first use unless ``create`` is
        False (readers: a missing registry is then refused with StoreError, nothing is made)."""
        return cls(RegistryStore.connect(location(settings), create=create), signing_keys(settings, create=create))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _operation(self) -> Iterator[Transaction]:
        with self.store.transaction(exclusive=True) as tx:
            yield tx

    # ------------------------------------------------------------------ accounts
    def open_accounts(self, org_id: str) -> list[str]:
        """Open ``org_id``'s four accounts (those missing); their ids.  Logged once, when first opened."""
        org_id = _text(org_id, "org_id", 64)
        with self._operation() as tx:
            opened = [kind for kind in ACCOUNT_KINDS
                      if not tx.one("SELECT 1 FROM accounts WHERE account_id = ?", [account_id(org_id, kind)])]
            for kind in opened:
                tx.run("INSERT INTO accounts VALUES (?, ?, ?, ?, ?)",
                       [account_id(org_id, kind), org_id, kind, self.clock(), "registry"])
            if opened:
                log.append(tx, self.keys, self.clock(), "open_accounts", f"OPEN-{org_id}",
                           {"org_id": org_id, "accounts": [account_id(org_id, kind) for kind in opened]})
        return [account_id(org_id, kind) for kind in ACCOUNT_KINDS]

    def _account(self, tx: Transaction, org_id: str, kind: str = "holding") -> str:
        account = account_id(org_id, kind)
        if not tx.one("SELECT 1 FROM accounts WHERE account_id = ?", [account]):
            raise RegistryRefused(f"{org_id} has no registry account; open its accounts first "
                                  f"(`carbon registry open-account {org_id}`)")
        return account

    # ------------------------------------------------------------------ issuing
    def issue(self, project_id: str, vintage: int, quantity: int, *, proponent: str, verification_ref: str,
              buffer_share: float = DEFAULT_BUFFER_SHARE, serial_start: int | None = None) -> dict:
        """Issue ``quantity`` credits of ``project_id``/``vintage`` against verification ``verification_ref``
        (issued once only) to ``proponent``'s holding account, ``round(quantity * buffer_share)`` of them to
        its buffer account.  Serials follow the last one issued, or start at ``serial_start`` (an issuance
        brought over from another registry) when that range overlaps no block.  The log body."""
        quantity = whole_quantity(quantity)
        if isinstance(buffer_share, bool) or not isinstance(buffer_share, numbers.Real) or not 0 <= buffer_share < 1:
            raise RegistryRefused(f"buffer_share: {buffer_share!r} must be a fraction from 0 up to (not including) 1")
        buffer = int(math.floor(quantity * buffer_share + 0.5))
        if buffer >= quantity:
            raise RegistryRefused(f"quantity: {quantity} credits leave nothing after a buffer of {buffer}")
        verification_ref = _text(verification_ref, "verification_ref", 100)
        project_id = _text(project_id, "project_id", 64)
        if isinstance(vintage, bool) or not isinstance(vintage, numbers.Integral) or not 2000 <= vintage <= 2100:
            raise RegistryRefused(f"vintage: {vintage!r} is not a year from 2000 to 2100")
        with self._operation() as tx:
            holding, pool = self._account(tx, proponent), self._account(tx, proponent, "buffer")
            used = tx.one("SELECT batch_id FROM batches WHERE verification_ref = ?", [verification_ref])
            if used:
                raise RegistryRefused(f"verification {verification_ref} was issued already (batch {used[0]}); a "
                                      "verification is issued once (duplicate issuance)")
            next_serial = int(tx.one("SELECT next_serial FROM log_head WHERE id = 1")[0])
            if serial_start is None:
                start = next_serial
            else:
                start = int(whole_quantity(serial_start, "serial_start"))
                overlap = tx.one(f"SELECT {_BLOCK} FROM blocks WHERE serial_start <= ? AND serial_end >= ? "
                                 "ORDER BY serial_start LIMIT 1", [start + quantity - 1, start])
                if overlap:
                    raise RegistryRefused(f"serials {start}-{start + quantity - 1} overlap block {Block(*overlap).label} "
                                          "issued already; serial ranges never overlap")
            end = start + quantity - 1
            number = 1 + tx.one("SELECT count(*) FROM batches WHERE project_id = ? AND vintage = ?",
                                [project_id, int(vintage)])[0]
            batch = serials.batch_id(project_id, int(vintage), number)
            held_end = end - buffer
            body = {"project_id": project_id, "vintage": int(vintage), "quantity": quantity, "batch_id": batch,
                    "verification_ref": verification_ref, "to_account": holding, "ranges": [[start, held_end]],
                    "buffer_account": pool, "buffer_ranges": [[held_end + 1, end]] if buffer else []}
            entry = log.append(tx, self.keys, self.clock(), "issue", f"ISS-{batch}", body)
            tx.run("INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [batch, project_id, int(vintage), verification_ref, start, end, quantity, buffer, entry["at"], entry["seq"]])
            tx.run("INSERT INTO blocks (project_id, vintage, batch_id, serial_start, serial_end, account_id, state) "
                   "VALUES (?, ?, ?, ?, ?, ?, 'held')", [project_id, int(vintage), batch, start, held_end, holding])
            if buffer:
                tx.run("INSERT INTO blocks (project_id, vintage, batch_id, serial_start, serial_end, account_id, state) "
                       "VALUES (?, ?, ?, ?, ?, ?, 'buffer')", [project_id, int(vintage), batch, held_end + 1, end, pool])
            tx.run("UPDATE log_head SET next_serial = ? WHERE id = 1", [max(next_serial, end + 1)])
        return entry

    # ------------------------------------------------------------------ taking units
    def _take(self, tx: Transaction, account: str, project_id: str, vintage: int, quantity: int, *,
              state: str = "held", serial_range: Sequence[int] | None = None) -> list[Block]:
        """The blocks holding exactly ``quantity`` units of ``project_id``/``vintage`` in ``state`` (held ones
        not reserved) in ``account``: the lowest serials first, or exactly ``serial_range``; a block taken in
        part is split.  RegistryRefused, saying what the account holds, when there are not enough."""
        free = "AND reserved_by IS NULL" if state == "held" else ""
        where = f"account_id = ? AND project_id = ? AND vintage = ? AND state = ? {free}"
        params = [account, project_id, int(vintage), state]
        if serial_range is not None:
            first, last = (int(whole_quantity(v, "serial")) for v in serial_range)
            if last < first or last - first + 1 != quantity:
                raise RegistryRefused(f"serials {first}-{last} hold {last - first + 1} credits, not the quantity "
                                      f"{quantity}; the quantity equals the range's length")
            inside = [Block(*row) for row in tx.rows(
                f"SELECT {_BLOCK} FROM blocks WHERE {where} AND serial_end >= ? AND serial_start <= ? "
                "ORDER BY serial_start", [*params, first, last])]
            covered = sum(min(b.serial_end, last) - max(b.serial_start, first) + 1 for b in inside)
            if covered != quantity:
                raise RegistryRefused(f"serials {first}-{last}: only {covered} of them are {state} and free to "
                                      f"move in {account}" + self._why(tx, account, project_id, vintage))
            taken = []
            for block in inside:
                if block.serial_start < first:
                    block = self._split(tx, block, first)
                if block.serial_end > last:
                    self._split(tx, block, last + 1)
                    block = Block(**{**block.__dict__, "serial_end": last})
                taken.append(block)
            return taken
        available = tx.one(f"SELECT coalesce(sum(serial_end - serial_start + 1), 0) FROM blocks WHERE {where}", params)[0]
        if available < quantity:
            raise RegistryRefused(f"{account} has {available:,} {state} credits of {project_id} vintage {vintage} free "
                                  f"to move, not {quantity:,}" + self._why(tx, account, project_id, vintage))
        blocks, covered = [], 0
        while covered < quantity:  # the lowest serials, a page at a time (most operations need one block)
            after = blocks[-1].serial_start if blocks else -1
            page = [Block(*row) for row in tx.rows(f"SELECT {_BLOCK} FROM blocks WHERE {where} AND serial_start > ? "
                                                   "ORDER BY serial_start LIMIT 16", [*params, after])]
            blocks += page
            covered += sum(b.quantity for b in page)
        taken, needed = [], quantity
        for block in blocks:
            if needed == 0:
                break
            if block.quantity > needed:
                self._split(tx, block, block.serial_start + needed)
                block = Block(**{**block.__dict__, "serial_end": block.serial_start + needed - 1})
            taken.append(block)
            needed -= block.quantity
        return taken

    @staticmethod
    def _why(tx: Transaction, account: str, project_id: str, vintage: int) -> str:
        rows = tx.rows("SELECT state, reserved_by IS NOT NULL, sum(serial_end - serial_start + 1) FROM blocks "
                       "WHERE account_id = ? AND project_id = ? AND vintage = ? GROUP BY 1, 2 ORDER BY 1, 2",
                       [account, project_id, int(vintage)])
        parts = [f"{n:,} {'reserved by a pending transfer' if reserved else state}" for state, reserved, n in rows]
        return f" (it holds: {', '.join(parts)})" if parts else " (it holds none)"

    @staticmethod
    def _split(tx: Transaction, block: Block, at: int) -> Block:
        """Cut ``block`` before serial ``at``: it keeps ``[start, at-1]``; the new block ``[at, end]`` is returned."""
        tx.run("UPDATE blocks SET serial_end = ? WHERE block_id = ?", [at - 1, block.block_id])
        tx.run("INSERT INTO blocks (project_id, vintage, batch_id, serial_start, serial_end, account_id, state, "
               "reserved_by, pledge_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [block.project_id, block.vintage, block.batch_id, at, block.serial_end, block.account_id, block.state,
                block.reserved_by, block.pledge_id])
        new_id = tx.one("SELECT block_id FROM blocks WHERE serial_start = ?", [at])[0]
        return Block(**{**block.__dict__, "block_id": new_id, "serial_start": at})

    @staticmethod
    def _move(tx: Transaction, blocks: list[Block], *, account: str | None = None, state: str | None = None,
              reserved_by: str | None = None, pledge_id: str | None = None) -> list[list[int]]:
        for block in blocks:
            tx.run("UPDATE blocks SET account_id = ?, state = ?, reserved_by = ?, pledge_id = ? WHERE block_id = ?",
                   [account or block.account_id, state or block.state, reserved_by, pledge_id, block.block_id])
        return [[b.serial_start, b.serial_end] for b in blocks]

    # ------------------------------------------------------------------ transfers
    def request_transfer(self, from_org: str, to_org: str, project_id: str, vintage: int, quantity: int, *,
                         serial_range: Sequence[int] | None = None, price_cny: float | None = None,
                         requested_by: str = "") -> dict:
        """Reserve ``quantity`` held credits in ``from_org``'s holding account for ``to_org``, who accepts or
        rejects (:meth:`accept_transfer`); the holder may cancel meanwhile.  ``price_cny`` per tCO2e, when the
        transfer is a sale (market information, clause 5.4); ``requested_by``, the person (kept for the four-eyes
        rule, not logged).  The log body (``transfer_id``)."""
        quantity = whole_quantity(quantity)
        if from_org == to_org:
            raise RegistryRefused(f"to_org: {to_org} is the holder; a transfer goes to another organisation")
        if price_cny is not None and (isinstance(price_cny, bool) or not isinstance(price_cny, numbers.Real)
                                      or not math.isfinite(price_cny) or not 0 <= price_cny <= 10000):
            raise RegistryRefused(f"price_cny: {price_cny!r} must be a price from 0 to 10 000 CNY per tCO2e")
        transfer_id = f"TRF-{self.new_id()}"
        with self._operation() as tx:
            source, target = self._account(tx, from_org), self._account(tx, to_org)
            blocks = self._take(tx, source, project_id, vintage, quantity, serial_range=serial_range)
            ranges = self._move(tx, blocks, reserved_by=transfer_id)
            price_cny = None if price_cny is None else float(price_cny)
            tx.run("INSERT INTO transfers VALUES (?, ?, ?, ?, ?, ?, 'requested', ?, ?, NULL, ?)",
                   [transfer_id, source, target, project_id, int(vintage), quantity, price_cny, self.clock(),
                    requested_by])
            return log.append(tx, self.keys, self.clock(), "transfer_request", transfer_id,
                              {"transfer_id": transfer_id, "project_id": project_id, "vintage": int(vintage),
                               "quantity": quantity, "from_account": source, "to_account": target, "ranges": ranges,
                               "price_cny": price_cny})

    def _pending(self, tx: Transaction, transfer_id: str) -> tuple:
        row = tx.one("SELECT from_account, to_account, project_id, vintage, quantity, status, price_cny FROM transfers "
                     "WHERE transfer_id = ?", [transfer_id])
        if row is None:
            raise RegistryRefused(f"transfer_id: no transfer {transfer_id!r}")
        if row[5] != "requested":
            raise RegistryRefused(f"transfer {transfer_id} is {row[5]} already; only a requested transfer can be "
                                  "accepted, rejected or cancelled")
        return row

    def _close_transfer(self, transfer_id: str, by_org: str, outcome: str) -> dict:
        with self._operation() as tx:
            source, target, project_id, vintage, quantity, _, price = self._pending(tx, transfer_id)
            party = target if outcome in ("accepted", "rejected") else source
            if account_id(by_org) != party:
                who = "the recipient" if party == target else "the holder"
                raise RegistryRefused(f"transfer {transfer_id} can be {outcome} only by {who} ({party[4:]}), not {by_org}")
            blocks = [Block(*row) for row in tx.rows(f"SELECT {_BLOCK} FROM blocks WHERE reserved_by = ? "
                                                     "ORDER BY serial_start", [transfer_id])]
            ranges = self._move(tx, blocks, account=target if outcome == "accepted" else source)
            tx.run("UPDATE transfers SET status = ?, decided_at = ? WHERE transfer_id = ?",
                   [outcome, self.clock(), transfer_id])
            kind = {"accepted": "transfer", "rejected": "transfer_reject", "cancelled": "transfer_cancel"}[outcome]
            return log.append(tx, self.keys, self.clock(), kind, f"{transfer_id}-{outcome[:3].upper()}",
                              {"transfer_id": transfer_id, "project_id": project_id, "vintage": int(vintage),
                               "quantity": int(quantity), "from_account": source, "to_account": target,
                               "ranges": ranges, "price_cny": price})

    def accept_transfer(self, transfer_id: str, by_org: str) -> dict:
        """The recipient ``by_org`` accepts: the reserved units move to its holding account."""
        return self._close_transfer(transfer_id, by_org, "accepted")

    def reject_transfer(self, transfer_id: str, by_org: str) -> dict:
        """The recipient ``by_org`` refuses: the reserved units are free again in the holder's account."""
        return self._close_transfer(transfer_id, by_org, "rejected")

    def cancel_transfer(self, transfer_id: str, by_org: str) -> dict:
        """The holder ``by_org`` withdraws its request: the reserved units are free again."""
        return self._close_transfer(transfer_id, by_org, "cancelled")

    # ------------------------------------------------------------------ retiring, pledging, cancelling
    def retire(self, org_id: str, project_id: str, vintage: int, quantity: int, *, beneficiary: str, purpose: str,
               cap_year: int | None = None, serial_range: Sequence[int] | None = None) -> dict:
        """Retire ``quantity`` held credits of ``org_id`` for ``beneficiary``: ``purpose`` ``compliance`` (an
        offset of the beneficiary's cap in ``cap_year``) or ``voluntary``.  Retired units never move again.
        The log body (``retirement_id``)."""
        quantity = whole_quantity(quantity)
        beneficiary = _text(beneficiary, "beneficiary")
        if purpose not in PURPOSES:
            raise RegistryRefused(f"purpose: {purpose!r} is not one of {', '.join(PURPOSES)}")
        if purpose == "compliance":
            if isinstance(cap_year, bool) or not isinstance(cap_year, int) or not 2000 <= cap_year <= 2100:
                raise RegistryRefused("cap_year: a compliance retirement names the cap year it offsets (e.g. 2025)")
        elif cap_year is not None:
            raise RegistryRefused("cap_year: only a compliance retirement offsets a cap year")
        retirement_id = f"RTM-{self.new_id()}"
        with self._operation() as tx:
            source, target = self._account(tx, org_id), self._account(tx, org_id, "retirement")
            ranges = self._move(tx, self._take(tx, source, project_id, vintage, quantity, serial_range=serial_range),
                                account=target, state="retired")
            entry = log.append(tx, self.keys, self.clock(), "retire", retirement_id,
                               {"retirement_id": retirement_id, "project_id": project_id, "vintage": int(vintage),
                                "quantity": quantity, "from_account": source, "to_account": target, "ranges": ranges,
                                "beneficiary": beneficiary, "purpose": purpose, "cap_year": cap_year})
            tx.run("INSERT INTO retirements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [retirement_id, target, project_id, int(vintage), quantity, beneficiary, purpose, cap_year,
                    entry["at"], entry["seq"]])
            return entry

    def pledge(self, org_id: str, project_id: str, vintage: int, quantity: int, *, pledgee: str) -> dict:
        """Pledge (质押) ``quantity`` held credits of ``org_id`` to ``pledgee`` (a bank): they stay in the
        account but cannot move until :meth:`release`.  The log body (``pledge_id``)."""
        quantity = whole_quantity(quantity)
        pledgee = _text(pledgee, "pledgee")
        pledge_id = f"PLG-{self.new_id()}"
        with self._operation() as tx:
            account = self._account(tx, org_id)
            ranges = self._move(tx, self._take(tx, account, project_id, vintage, quantity), state="pledged",
                                pledge_id=pledge_id)
            tx.run("INSERT INTO pledges VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                   [pledge_id, account, pledgee, project_id, int(vintage), quantity, self.clock()])
            return log.append(tx, self.keys, self.clock(), "pledge", pledge_id,
                              {"pledge_id": pledge_id, "project_id": project_id, "vintage": int(vintage),
                               "quantity": quantity, "from_account": account, "to_account": account,
                               "ranges": ranges, "pledgee": pledgee})

    def release(self, pledge_id: str, by_org: str) -> dict:
        """Release pledge ``pledge_id`` of ``by_org``: its units are held (free) again."""
        with self._operation() as tx:
            row = tx.one("SELECT account_id, pledgee, project_id, vintage, quantity, released_at FROM pledges "
                         "WHERE pledge_id = ?", [pledge_id])
            if row is None:
                raise RegistryRefused(f"pledge_id: no pledge {pledge_id!r}")
            account, pledgee, project_id, vintage, quantity, released = row
            if released:
                raise RegistryRefused(f"pledge {pledge_id} was released already ({released})")
            if account != account_id(by_org):
                raise RegistryRefused(f"pledge {pledge_id} is on {account}, not an account of {by_org}")
            blocks = [Block(*r) for r in tx.rows(f"SELECT {_BLOCK} FROM blocks WHERE pledge_id = ? ORDER BY serial_start",
                                                 [pledge_id])]
            ranges = self._move(tx, blocks, state="held")
            tx.run("UPDATE pledges SET released_at = ? WHERE pledge_id = ?", [self.clock(), pledge_id])
            return log.append(tx, self.keys, self.clock(), "release", f"{pledge_id}-REL",
                              {"pledge_id": pledge_id, "project_id": project_id, "vintage": int(vintage),
                               "quantity": int(quantity), "from_account": account, "to_account": account,
                               "ranges": ranges, "pledgee": pledgee})

    # ------------------------------------------------------------------ exports to another registry
    def request_export(self, org_id: str, project_id: str, vintage: int, quantity: int, *, destination: str,
                       requested_by: str = "", serial_range: Sequence[int] | None = None) -> dict:
        """Mark ``quantity`` held credits of ``org_id`` for export to ``destination`` (another registry): they
        are ``pending_export`` and cannot move until :meth:`confirm_export` (``exported``: they left this
        registry for good) or :meth:`cancel_export` (held again).  ``requested_by``, the person (for the
        four-eyes rule, not logged).  The log body (``export_id``)."""
        quantity = whole_quantity(quantity)
        destination = _text(destination, "destination")
        export_id = f"EXP-{self.new_id()}"
        with self._operation() as tx:
            account = self._account(tx, org_id)
            ranges = self._move(tx, self._take(tx, account, project_id, vintage, quantity, serial_range=serial_range),
                                state="pending_export")
            tx.run("INSERT INTO exports VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, NULL, NULL)",
                   [export_id, account, destination, project_id, int(vintage), quantity, json.dumps(ranges),
                    self.clock(), str(requested_by)[:128]])
            return log.append(tx, self.keys, self.clock(), "export_request", export_id,
                              {"export_id": export_id, "project_id": project_id, "vintage": int(vintage),
                               "quantity": quantity, "from_account": account, "to_account": account, "ranges": ranges,
                               "destination": destination})

    def _close_export(self, export_id: str, by_org: str, outcome: str, destination_ref: str | None = None) -> dict:
        with self._operation() as tx:
            row = tx.one("SELECT account_id, destination, project_id, vintage, quantity, ranges, status FROM exports "
                         "WHERE export_id = ?", [export_id])
            if row is None:
                raise RegistryRefused(f"export_id: no export {export_id!r}")
            account, destination, project_id, vintage, quantity, ranges, status = row
            if status != "pending":
                raise RegistryRefused(f"export {export_id} is {status} already; only a pending export is confirmed or "
                                      "cancelled")
            if account != account_id(by_org):
                raise RegistryRefused(f"export {export_id} is from {account}, not an account of {by_org}")
            blocks = []
            for start, end in json.loads(ranges):
                found = tx.one(f"SELECT {_BLOCK} FROM blocks WHERE serial_start = ? AND serial_end = ? AND account_id = ? "
                               "AND state = 'pending_export'", [start, end, account])
                if found is None:  # only this method moves pending_export units: the store was edited
                    raise RegistryRefused(f"export {export_id}: serials {start}-{end} are no longer pending export")
                blocks.append(Block(*found))
            moved = self._move(tx, blocks, state="exported" if outcome == "exported" else "held")
            tx.run("UPDATE exports SET status = ?, decided_at = ?, destination_ref = ? WHERE export_id = ?",
                   [outcome, self.clock(), destination_ref, export_id])
            kind = "export" if outcome == "exported" else "export_cancel"
            return log.append(tx, self.keys, self.clock(), kind, f"{export_id}-{outcome[:3].upper()}",
                              {"export_id": export_id, "project_id": project_id, "vintage": int(vintage),
                               "quantity": int(quantity), "from_account": account,
                               "to_account": None if outcome == "exported" else account, "ranges": moved,
                               "destination": destination, "destination_ref": destination_ref})

    def confirm_export(self, export_id: str, by_org: str, *, destination_ref: str) -> dict:
        """The destination registry confirmed export ``export_id`` of ``by_org`` under its reference
        ``destination_ref`` (its own issuance or transaction id): the units are ``exported``, terminal here."""
        return self._close_export(export_id, by_org, "exported", _text(destination_ref, "destination_ref", 100))

    def cancel_export(self, export_id: str, by_org: str) -> dict:
        """Export ``export_id`` of ``by_org`` will not happen: its units are held (free) again."""
        return self._close_export(export_id, by_org, "cancelled")

    def exports(self, status: str | None = None) -> pd.DataFrame:
        """Exports (all, or those of ``status``), newest first."""
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        with self.store.transaction() as tx:
            rows = tx.rows(f"SELECT export_id, account_id, destination, project_id, vintage, quantity, status, "
                           f"requested_at, decided_at, destination_ref, requested_by FROM exports {where} "
                           "ORDER BY requested_at DESC", params)
        return pd.DataFrame(rows, columns=["export_id", "account_id", "destination", "project_id", "vintage", "quantity",
                                           "status", "requested_at", "decided_at", "destination_ref", "requested_by"])

    def cancel(self, org_id: str, project_id: str, vintage: int, quantity: int, *, reason: str) -> dict:
        """Cancel ``quantity`` held credits of ``org_id`` (voluntary cancellation, an error of issuance): they
        move to its cancellation account for ever."""
        quantity = whole_quantity(quantity)
        reason = _text(reason, "reason")
        with self._operation() as tx:
            source, target = self._account(tx, org_id), self._account(tx, org_id, "cancellation")
            ranges = self._move(tx, self._take(tx, source, project_id, vintage, quantity), account=target,
                                state="cancelled")
            return log.append(tx, self.keys, self.clock(), "cancel", f"CNL-{self.new_id()}",
                              {"project_id": project_id, "vintage": int(vintage), "quantity": quantity,
                               "from_account": source, "to_account": target, "ranges": ranges, "reason": reason})

    def reverse(self, project_id: str, quantity: int, *, proponent: str, cause: str, note: str = "") -> dict:
        """A reversal (fire, pests, illegal logging …) lost ``quantity`` tCO2e of ``project_id``'s stored carbon:
        cancel as many of its buffer credits (oldest vintage and serial first).  Refused when its buffer holds
        fewer (the proponent must then compensate with held credits: :meth:`cancel`)."""
        quantity = whole_quantity(quantity)
        if cause not in REVERSAL_CAUSES:
            raise RegistryRefused(f"cause: {cause!r} is not one of {', '.join(REVERSAL_CAUSES)}")
        with self._operation() as tx:
            pool, target = self._account(tx, proponent, "buffer"), self._account(tx, proponent, "cancellation")
            vintages = [v for (v,) in tx.rows("SELECT DISTINCT vintage FROM blocks WHERE account_id = ? AND project_id = ? "
                                               "AND state = 'buffer' ORDER BY vintage", [pool, project_id])]
            buffered = {v: tx.one("SELECT sum(serial_end - serial_start + 1) FROM blocks WHERE account_id = ? AND "
                                  "project_id = ? AND vintage = ? AND state = 'buffer'", [pool, project_id, v])[0]
                        for v in vintages}
            if sum(buffered.values()) < quantity:
                raise RegistryRefused(f"{project_id} has {sum(buffered.values()):,} buffer credits, fewer than the "
                                      f"{quantity:,} tCO2e reversed; cancel held credits for the rest (`carbon registry cancel`)")
            moved, needed = {}, quantity
            for vintage in vintages:
                take = min(needed, buffered[vintage])
                if take:
                    moved[vintage] = self._move(tx, self._take(tx, pool, project_id, vintage, take, state="buffer"),
                                                account=target, state="cancelled")
                needed -= take
            return log.append(tx, self.keys, self.clock(), "reversal", f"REV-{self.new_id()}",
                              {"project_id": project_id, "quantity": quantity, "from_account": pool,
                               "to_account": target, "ranges_by_vintage": {str(v): r for v, r in moved.items()},
                               "cause": cause, "note": str(note)[:500]})

    # ------------------------------------------------------------------ reading
    def blocks(self, *, account: str | None = None, project_id: str | None = None) -> pd.DataFrame:
        """Every block (with ``quantity`` and ``label``), filtered by account and/or project."""
        conditions, params = [], []
        for column, value in (("account_id", account), ("project_id", project_id)):
            if value:
                conditions.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self.store.transaction() as tx:
            rows = [Block(*r) for r in tx.rows(f"SELECT {_BLOCK} FROM blocks {where} ORDER BY serial_start", params)]
        frame = pd.DataFrame([{**b.__dict__, "quantity": b.quantity, "label": b.label} for b in rows],
                             columns=[*Block.__dataclass_fields__, "quantity", "label"])
        return frame

    def balances(self, org_id: str | None = None) -> pd.DataFrame:
        """Credits per account, project, vintage and state (``reserved`` counts held units a transfer reserves)."""
        where, params = ("WHERE a.org_id = ?", [org_id]) if org_id else ("", [])
        with self.store.transaction() as tx:
            rows = tx.rows("SELECT a.org_id, b.account_id, b.project_id, b.vintage, b.state, "
                           "sum(b.serial_end - b.serial_start + 1), "
                           "sum(CASE WHEN b.reserved_by IS NULL THEN 0 ELSE b.serial_end - b.serial_start + 1 END) "
                           f"FROM blocks b JOIN accounts a USING (account_id) {where} GROUP BY 1, 2, 3, 4, 5 "
                           "ORDER BY 1, 2, 3, 4, 5", params)
        return pd.DataFrame(rows, columns=["org_id", "account_id", "project_id", "vintage", "state", "quantity",
                                           "reserved"])

    def lookup(self, serial: int) -> dict:
        """Where serial ``serial`` is (project, vintage, batch, block label, state, account) and every logged
        operation whose ranges hold it (its history, oldest first)."""
        serial = whole_quantity(serial, "serial")
        with self.store.transaction() as tx:
            row = tx.one(f"SELECT {_BLOCK} FROM blocks WHERE serial_start <= ? AND serial_end >= ? ", [serial, serial])
            if row is None:
                raise RegistryRefused(f"serial {serial} was never issued")
            block = Block(*row)
            bodies = [json.loads(b) for (b,) in tx.rows(
                "SELECT body FROM log WHERE seq >= (SELECT op_seq FROM batches WHERE batch_id = ?) AND kind <> "
                "'open_accounts' ORDER BY seq", [block.batch_id])]
        history = [b for b in bodies if b.get("project_id") == block.project_id and _holds(b, serial)]
        return {"serial": serial, "block": block, "history": history}

    def log_rows(self, after_seq: int = -1) -> list[tuple[dict, str]]:
        """The log's transactions after ``after_seq`` as (body, leaf hash in hex), oldest first (for publication)."""
        with self.store.transaction() as tx:
            return [(json.loads(body), leaf) for body, leaf in
                    tx.rows("SELECT body, leaf_hash FROM log WHERE seq > ? ORDER BY seq", [after_seq])]

    def leaf(self, seq: int) -> str:
        """The leaf hash (hex) of transaction ``seq`` ('' before the first)."""
        with self.store.transaction() as tx:
            row = tx.one("SELECT leaf_hash FROM log WHERE seq = ?", [seq])
        return row[0] if row else ""

    def retirements(self) -> pd.DataFrame:
        """Every retirement: id, account, project, vintage, quantity, beneficiary, purpose, cap year, time, log number."""
        with self.store.transaction() as tx:
            rows = tx.rows("SELECT * FROM retirements ORDER BY op_seq")
        return pd.DataFrame(rows, columns=["retirement_id", "account_id", "project_id", "vintage", "quantity",
                                           "beneficiary", "purpose", "cap_year", "retired_at", "op_seq"])

    def pledges(self) -> pd.DataFrame:
        """Every pledge (live ones have no ``released_at``)."""
        with self.store.transaction() as tx:
            rows = tx.rows("SELECT * FROM pledges ORDER BY pledged_at")
        return pd.DataFrame(rows, columns=["pledge_id", "account_id", "pledgee", "project_id", "vintage", "quantity",
                                           "pledged_at", "released_at"])

    def transfers(self, status: str | None = None) -> pd.DataFrame:
        """Transfers (all, or those of ``status``), newest first."""
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        with self.store.transaction() as tx:
            rows = tx.rows(f"SELECT * FROM transfers {where} ORDER BY requested_at DESC", params)
        return pd.DataFrame(rows, columns=["transfer_id", "from_account", "to_account", "project_id", "vintage",
                                           "quantity", "status", "price_cny", "requested_at", "decided_at",
                                           "requested_by"])

    def reconcile(self) -> pd.DataFrame:
        """Per project and vintage: issued, held, pledged, retired, cancelled, buffer from the blocks; the same
        totals re-derived from the log; ``ok`` when issued = the sum of the states and blocks agree with the log."""
        with self.store.transaction() as tx:
            issued = tx.rows("SELECT project_id, vintage, sum(quantity) FROM batches GROUP BY 1, 2")
            states = tx.rows("SELECT project_id, vintage, state, sum(serial_end - serial_start + 1) FROM blocks "
                             "GROUP BY 1, 2, 3")
            bodies = [json.loads(b) for (b,) in tx.rows("SELECT body FROM log ORDER BY seq")]
        table = {(p, v): {"issued": int(q), **{s: 0 for s in STATES}} for p, v, q in issued}
        for p, v, state, q in states:
            table.setdefault((p, v), {"issued": 0, **{s: 0 for s in STATES}})[state] = int(q)
        derived = _replay_totals(bodies)
        rows = []
        for (p, v), figures in sorted(table.items()):
            from_log = derived.get((p, v), {})
            agrees = all(figures[s] == from_log.get(s, 0) for s in (*STATES, "issued"))
            rows.append({"project_id": p, "vintage": v, **figures,
                         "ok": figures["issued"] == sum(figures[s] for s in STATES) and agrees, "log_agrees": agrees})
        return pd.DataFrame(rows, columns=["project_id", "vintage", "issued", *STATES, "ok", "log_agrees"])

    def overlaps(self) -> list[str]:
        """Labels of blocks whose serials overlap the next block's (always empty unless the store was edited)."""
        with self.store.transaction() as tx:
            rows = [Block(*r) for r in tx.rows(f"SELECT {_BLOCK} FROM blocks ORDER BY serial_start")]
        return [f"{a.label} overlaps {b.label}" for a, b in zip(rows, rows[1:]) if b.serial_start <= a.serial_end]

    def verify(self) -> log.LogCheck:
        """The log's own check (:func:`carbonlib.registry.log.verify`), then the units against it: a block
        edited behind the log's back, or overlapping serials, is named."""
        check = log.verify(self.store, self.keys)
        if not check.ok:
            return check
        overlapping = self.overlaps()
        if overlapping:
            return log.LogCheck(check.transactions, check.checkpoints, "serial ranges overlap: " + "; ".join(overlapping[:3]))
        bad = self.reconcile().query("not ok")
        if len(bad):
            row = bad.iloc[0]
            return log.LogCheck(check.transactions, check.checkpoints,
                                f"the units of {row.project_id} vintage {row.vintage} do not match the log "
                                f"(issued {row.issued:,}; held {row.held:,}, pledged {row.pledged:,}, retired "
                                f"{row.retired:,}, cancelled {row.cancelled:,}, buffer {row.buffer:,}): the store was "
                                "edited outside the registry")
        return check


def _holds(body: dict, serial: int) -> bool:
    ranges = list(body.get("ranges", [])) + list(body.get("buffer_ranges", []))
    for per_vintage in body.get("ranges_by_vintage", {}).values():
        ranges += per_vintage
    return any(start <= serial <= end for start, end in ranges)


#: Log kinds that move their ranges from one state to another (source, target), within one project and vintage.
_STATE_CHANGES = {"retire": ("held", "retired"), "cancel": ("held", "cancelled"), "pledge": ("held", "pledged"),
                  "release": ("pledged", "held"), "export_request": ("held", "pending_export"),
                  "export": ("pending_export", "exported"), "export_cancel": ("pending_export", "held")}


def _replay_totals(bodies: list[dict]) -> dict[tuple[str, int], dict[str, int]]:
    """Each state's total per project and vintage, re-derived from the log alone."""
    totals: dict[tuple[str, int], dict[str, int]] = {}

    def add(project: str, vintage: int, **change: int) -> None:
        row = totals.setdefault((project, int(vintage)), {"issued": 0, **{s: 0 for s in STATES}})
        for state, amount in change.items():
            row[state] += amount

    for body in bodies:
        kind, q = body["kind"], int(body.get("quantity", 0))
        length = sum(e - s + 1 for s, e in body.get("ranges", []))
        if kind == "issue":
            buffer = sum(e - s + 1 for s, e in body["buffer_ranges"])
            add(body["project_id"], body["vintage"], issued=q, held=q - buffer, buffer=buffer)
        elif kind in _STATE_CHANGES:
            source, target = _STATE_CHANGES[kind]
            add(body["project_id"], body["vintage"], **{source: -length, target: length})
        elif kind == "reversal":
            for vintage, ranges in body["ranges_by_vintage"].items():
                n = sum(e - s + 1 for s, e in ranges)
                add(body["project_id"], int(vintage), buffer=-n, cancelled=n)
        elif kind not in ("transfer_request", "transfer", "transfer_reject", "transfer_cancel", "open_accounts"):
            raise ValueError(f"unknown registry transaction kind {kind!r}")
    return totals
