"""The credit registry (issue 13): serial blocks, operations and their invariants, the verifiable log,
published files a third party checks, the lake mirror and the caps' use of compliance retirements."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.accounting import caps
from carbonlib.cli import app
from carbonlib.lake import Lake, OwnedTableError
from carbonlib.registry import Registry, RegistryRefused
from carbonlib.registry import monitoring, projects, service
from carbonlib.registry.publish import MirrorMismatch, mirror, public_summary, publish_files
from carbonlib.registry.store import folder as registry_folder
from carbonlib.registry.verify import verify_folder, verify_retirement
from carbonlib.security import PermissionDenied, Security
from carbonlib.security import merkle
from conftest import TEST_PASSWORD, copy_lake_with_people, lake_settings


# ------------------------------------------------------------------------------- merkle proofs from stored nodes
def test_stored_node_proofs_equal_rfc6962_proofs_for_every_size_and_leaf():
    """The registry reads proofs from stored perfect-subtree nodes; they must equal the RFC 6962 PATH and PROOF
    computed from all leaves (``inclusion_proof`` / ``consistency_proof``, themselves checked against
    RFC 9162's verification algorithms in test_security)."""
    for size in range(1, 40):
        leaves = [merkle.leaf_hash(f"leaf {i}".encode()) for i in range(size)]
        nodes, frontier = {}, merkle.Frontier()
        for i, leaf in enumerate(leaves):
            nodes.update({(level, index): h for level, index, h in merkle.perfect_nodes(i, leaf, frontier)})
            frontier.append(leaf)
        node = lambda level, index: nodes[(level, index)]  # noqa: E731
        assert merkle.stored_root(node, 0, size) == merkle.root(leaves)
        for index in range(size):
            proof = merkle.stored_inclusion_proof(node, index, size)
            assert proof == merkle.inclusion_proof(leaves, index)
            assert merkle.verify_inclusion(leaves[index], index, size, proof, merkle.root(leaves))
        for old in range(1, size + 1):
            proof = merkle.stored_consistency_proof(node, old, size)
            assert proof == merkle.consistency_proof(leaves, old)
            assert merkle.verify_consistency(old, size, merkle.root(leaves[:old]), merkle.root(leaves), proof)


# ------------------------------------------------------------------------------- the book on its own
@pytest.fixture
def registry(tmp_path):
    """A registry (no lake needed) with accounts A, B, C; 1000 credits of P1/2024 issued to A (100 to the buffer);
    a pending transfer A -> B of 100, a live pledge of 100 and a released one, 50 retired, 20 pending export."""
    settings = lake_settings(tmp_path / "lake")
    with Registry.open(settings) as book:
        for org in ("A", "B", "C"):
            book.open_accounts(org)
        book.issue("P1", 2024, 1000, proponent="A", verification_ref="P1-V2024", buffer_share=0.1)
        book.request_transfer("A", "B", "P1", 2024, 100, requested_by="alice")
        book.pledge("A", "P1", 2024, 100, pledgee="Bank")
        released = book.pledge("A", "P1", 2024, 10, pledgee="Bank")
        book.release(released["pledge_id"], "A")
        book.retire("A", "P1", 2024, 50, beneficiary="A", purpose="voluntary")
        book.released_pledge = released["pledge_id"]
        book.pending_export = book.request_export("A", "P1", 2024, 20, destination="Verra VCS",
                                                  requested_by="alice")["export_id"]
        yield book


def _state(book: Registry) -> tuple:
    with book.store.transaction() as tx:
        return tuple(tx.rows(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 - constant table names
                     for table in ("blocks", "transfers", "pledges", "retirements", "batches", "log", "accounts",
                                   "exports"))


def _pending(book: Registry) -> str:
    return book.transfers("requested").transfer_id.iloc[0]


def _reserved_range(book: Registry) -> tuple[int, int]:
    blocks = book.blocks(account="ACC-A")
    row = blocks[blocks.reserved_by.notna()].iloc[0]
    return int(row.serial_start), int(row.serial_end)


def _retired_range(book: Registry) -> tuple[int, int]:
    row = book.blocks(account="RET-A").iloc[0]
    return int(row.serial_start), int(row.serial_end)


def _pending_export_range(book: Registry) -> tuple[int, int]:
    blocks = book.blocks(account="ACC-A")
    row = blocks[blocks.state == "pending_export"].iloc[0]
    return int(row.serial_start), int(row.serial_end)


def _retire_range(book: Registry, serials: tuple[int, int]) -> dict:
    return book.retire("A", "P1", 2024, serials[1] - serials[0] + 1, beneficiary="A", purpose="voluntary",
                       serial_range=serials)


BAD = {
    "issue over serials already issued": (lambda b: b.issue("P2", 2024, 10, proponent="A", verification_ref="X1",
                                                            serial_start=5), "overlap block"),
    "issue the same verification twice": (lambda b: b.issue("P1", 2024, 10, proponent="A",
                                                            verification_ref="P1-V2024"), "issued already"),
    "issue a negative quantity": (lambda b: b.issue("P1", 2025, -5, proponent="A", verification_ref="X2"), "positive"),
    "issue zero credits": (lambda b: b.issue("P1", 2025, 0, proponent="A", verification_ref="X3"), "positive"),
    "issue a fractional quantity": (lambda b: b.issue("P1", 2025, 10.5, proponent="A", verification_ref="X4"),
                                    "whole number"),
    "issue NaN credits": (lambda b: b.issue("P1", 2025, float("nan"), proponent="A", verification_ref="X5"),
                          "whole number"),
    "issue a quantity given as text": (lambda b: b.issue("P1", 2025, "100", proponent="A", verification_ref="X6"),
                                       "not a number"),
    "issue a quantity given as a boolean": (lambda b: b.issue("P1", 2025, True, proponent="A", verification_ref="X7"),
                                            "not a number"),
    "issue above the per-operation limit": (lambda b: b.issue("P1", 2025, 10**13, proponent="A",
                                                              verification_ref="X8"), "limit"),
    "issue with the whole of it to the buffer": (lambda b: b.issue("P1", 2025, 10, proponent="A", verification_ref="X9",
                                                                   buffer_share=1.0), "buffer_share"),
    "issue a vintage out of range": (lambda b: b.issue("P1", 1999, 10, proponent="A", verification_ref="X10"),
                                     "vintage"),
    "issue to an org without accounts": (lambda b: b.issue("P1", 2025, 10, proponent="Z", verification_ref="X11"),
                                         "no registry account"),
    "retire more than held": (lambda b: b.retire("A", "P1", 2024, 10**6, beneficiary="A", purpose="voluntary"),
                              "free to move, not"),
    "retire units retired already": (lambda b: _retire_range(b, _retired_range(b)), "only 0 of them"),
    "retire units a transfer reserves": (lambda b: _retire_range(b, _reserved_range(b)), "only 0 of them"),
    "transfer more than is free (pledged units)": (lambda b: b.request_transfer("A", "C", "P1", 2024, 700),
                                                   "100 pledged"),
    "transfer to oneself": (lambda b: b.request_transfer("A", "A", "P1", 2024, 10), "another organisation"),
    "transfer to an org without accounts": (lambda b: b.request_transfer("A", "Z", "P1", 2024, 10), "no registry account"),
    "transfer at a negative price": (lambda b: b.request_transfer("A", "B", "P1", 2024, 10, price_cny=-3.0), "price"),
    "transfer a serial range of another length": (lambda b: b.request_transfer("A", "B", "P1", 2024, 10,
                                                                               serial_range=(300, 400)),
                                                  "equals the range's length"),
    "accept by an account that is not the recipient": (lambda b: b.accept_transfer(_pending(b), "C"),
                                                       "only by the recipient"),
    "accept by the holder itself": (lambda b: b.accept_transfer(_pending(b), "A"), "only by the recipient"),
    "withdraw by the recipient": (lambda b: b.cancel_transfer(_pending(b), "B"), "only by the holder"),
    "accept a transfer that does not exist": (lambda b: b.accept_transfer("TRF-000000000000", "B"), "no transfer"),
    "compliance retirement without a cap year": (lambda b: b.retire("A", "P1", 2024, 1, beneficiary="A",
                                                                    purpose="compliance"), "cap_year"),
    "voluntary retirement with a cap year": (lambda b: b.retire("A", "P1", 2024, 1, beneficiary="A",
                                                                purpose="voluntary", cap_year=2024), "only a compliance"),
    "retirement for an unknown purpose": (lambda b: b.retire("A", "P1", 2024, 1, beneficiary="A", purpose="gift"),
                                          "purpose"),
    "retirement without a beneficiary": (lambda b: b.retire("A", "P1", 2024, 1, beneficiary="  ", purpose="voluntary"),
                                         "beneficiary"),
    "pledge without a pledgee": (lambda b: b.pledge("A", "P1", 2024, 1, pledgee=""), "pledgee"),
    "pledge more than is free": (lambda b: b.pledge("A", "P1", 2024, 5000, pledgee="Bank"), "free to move"),
    "release a pledge that does not exist": (lambda b: b.release("PLG-000000000000", "A"), "no pledge"),
    "release another org's pledge": (lambda b: b.release(b.released_pledge, "B"), "released already|not an account"),
    "release a pledge twice": (lambda b: b.release(b.released_pledge, "A"), "released already"),
    "cancel without a reason": (lambda b: b.cancel("A", "P1", 2024, 1, reason=""), "reason"),
    "cancel more than held": (lambda b: b.cancel("A", "P1", 2024, 10**6, reason="error"), "free to move"),
    "reversal beyond the buffer": (lambda b: b.reverse("P1", 5000, proponent="A", cause="fire"), "fewer than"),
    "reversal of an unknown cause": (lambda b: b.reverse("P1", 5, proponent="A", cause="aliens"), "cause"),
    "look up a serial never issued": (lambda b: b.lookup(10**9), "never issued"),
    "export more than is free": (lambda b: b.request_export("A", "P1", 2024, 10**6, destination="Verra VCS"),
                                 "free to move"),
    "export without a destination": (lambda b: b.request_export("A", "P1", 2024, 5, destination=" "), "destination"),
    "confirm an export that does not exist": (lambda b: b.confirm_export("EXP-000000000000", "A", destination_ref="V1"),
                                              "no export"),
    "confirm another org's export": (lambda b: b.confirm_export(b.pending_export, "B", destination_ref="V1"),
                                     "not an account of B"),
    "confirm an export without the destination's reference": (
        lambda b: b.confirm_export(b.pending_export, "A", destination_ref=" "), "destination_ref"),
    "retire units pending export": (lambda b: _retire_range(b, _pending_export_range(b)), "only 0 of them"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_invariant_holds_against_bad_operations(registry, case):
    attempt, message = BAD[case]
    before = _state(registry)
    with pytest.raises(RegistryRefused, match=message):
        attempt(registry)
    assert _state(registry) == before, "a refused operation changed the registry"
    assert registry.reconcile().ok.all() and registry.verify().ok


def test_the_fixture_state_reconciles_by_state(registry):
    """Hand-derived: 1000 issued with a 10 % buffer -> 900 held, 100 buffer; pledged 100 (and 10 released);
    50 retired; 20 pending export; the pending transfer's 100 are held and reserved."""
    row = registry.reconcile().iloc[0]
    assert (row.issued, row.held, row.pledged, row.retired, row.cancelled, row.buffer) == (1000, 730, 100, 50, 0, 100)
    assert (row.pending_export, row.exported) == (20, 0)
    held = registry.balances("A").set_index("state")
    assert held.loc["held", "reserved"] == 100
    assert registry.overlaps() == []


def test_an_export_is_confirmed_once_or_called_off_and_its_units_end_here(registry):
    """20 pending export are confirmed by the destination's reference: exported, terminal; another 30 are asked
    for and called off: held again.  issued = held + pledged + retired + cancelled + buffer + pending + exported."""
    done = registry.confirm_export(registry.pending_export, "A", destination_ref="VCS-4471-2024-001")
    assert done["kind"] == "export" and done["quantity"] == 20
    with pytest.raises(RegistryRefused, match="exported already"):
        registry.cancel_export(registry.pending_export, "A")
    start, end = done["ranges"][0]
    with pytest.raises(RegistryRefused, match="only 0 of them"):
        _retire_range(registry, (start, end))
    assert [step["kind"] for step in registry.lookup(start)["history"]][-2:] == ["export_request", "export"]
    asked = registry.request_export("A", "P1", 2024, 30, destination="Gold Standard")
    registry.cancel_export(asked["export_id"], "A")
    row = registry.reconcile().iloc[0]
    assert (row.held, row.pending_export, row.exported) == (730, 0, 20) and row.ok and row.log_agrees
    assert registry.exports().set_index("export_id").status.to_dict() == {
        registry.pending_export: "exported", asked["export_id"]: "cancelled"}
    assert registry.verify().ok


def test_a_version_1_registry_store_is_migrated_with_its_units(tmp_path):
    """A store made before exports (its state CHECK knows five states) is rebuilt on open: its blocks stay, the
    new states are accepted, table exports exists."""
    import sqlite3

    from carbonlib.registry import store as registry_store

    settings = lake_settings(tmp_path / "lake")
    path = registry_store.folder(settings) / "registry.sqlite"
    path.parent.mkdir(parents=True)
    old_states = "'held', 'pledged', 'retired', 'cancelled', 'buffer'"
    with sqlite3.connect(path) as db:
        registry_store._create_v1(lambda sql: db.execute(sql.replace(registry_store._in(registry_store.STATES),
                                                                     old_states)), "sqlite")
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        db.execute("INSERT INTO accounts VALUES ('ACC-A', 'A', 'holding', 't', 'x')")
        db.execute("INSERT INTO batches VALUES ('P1-2024-B1', 'P1', 2024, 'V1', 1, 10, 10, 0, 't', 0)")
        db.execute("INSERT INTO blocks (project_id, vintage, batch_id, serial_start, serial_end, account_id, state) "
                   "VALUES ('P1', 2024, 'P1-2024-B1', 1, 10, 'ACC-A', 'held')")
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE blocks SET state = 'exported'")
    with Registry.open(settings) as book:
        assert book.blocks().state.tolist() == ["held"]
        with book.store.transaction() as tx:
            tx.run("UPDATE blocks SET state = 'pending_export'")
            assert tx.one("SELECT value FROM meta WHERE key = 'schema_version'")[0] == "2"
            assert tx.one("SELECT count(*) FROM exports")[0] == 0


def test_a_partial_operation_splits_a_block_and_serials_stay_contiguous(registry):
    blocks = registry.blocks(project_id="P1").sort_values("serial_start")
    assert blocks.serial_start.iloc[0] == 1 and blocks.serial_end.iloc[-1] == 1000
    assert (blocks.serial_start.iloc[1:].to_numpy() == blocks.serial_end.iloc[:-1].to_numpy() + 1).all()
    assert (blocks.quantity == blocks.serial_end - blocks.serial_start + 1).all()
    found = registry.lookup(int(blocks[blocks.state == "retired"].serial_start.iloc[0]))
    assert found["block"].state == "retired" and [s["kind"] for s in found["history"]][-1] == "retire"


def test_two_concurrent_transfers_of_the_same_block_exactly_one_succeeds(registry, tmp_path):
    """Two connections (as two server processes would have) ask for the same 700 free units at once."""
    settings = lake_settings(tmp_path / "lake")
    free = int(registry.balances("A").set_index("state").loc["held", "quantity"]) - 100  # minus the reserved
    barrier, outcomes = threading.Barrier(2), []

    def transfer(target: str) -> None:
        with Registry.open(settings) as own:
            barrier.wait()
            try:
                own.request_transfer("A", target, "P1", 2024, free)
                outcomes.append("ok")
            except RegistryRefused as refused:
                outcomes.append(str(refused))

    threads = [threading.Thread(target=transfer, args=(org,)) for org in ("B", "C")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[-1] == "ok" and outcomes.count("ok") == 1, outcomes
    assert "free to move" in next(o for o in outcomes if o != "ok")
    assert registry.reconcile().ok.all()


# ------------------------------------------------------------------------------- the log: tampering and publication
def _sql(settings, statement: str, params=()) -> None:
    with sqlite3.connect(registry_folder(settings) / "registry.sqlite") as db:
        db.execute(statement, params)


def test_tampering_with_the_store_is_detected_and_named(registry, tmp_path):
    settings = lake_settings(tmp_path / "lake")
    assert registry.verify().ok
    copy = tmp_path / "copy"
    shutil.copytree(registry_folder(settings), copy)

    retire = registry.retirements().iloc[0]
    body = registry.log_rows(int(retire.op_seq) - 1)[0][0]
    body["quantity"] = 5  # a retirement edited to look smaller
    _sql(settings, "UPDATE log SET body = ? WHERE seq = ?", [json.dumps(body, sort_keys=True, separators=(",", ":")),
                                                             int(retire.op_seq)])
    check = registry.verify()
    assert not check.ok and check.first_bad_seq == int(retire.op_seq) and "was edited" in check.problem

    shutil.rmtree(registry_folder(settings))
    shutil.copytree(copy, registry_folder(settings))
    _sql(settings, "UPDATE blocks SET state = 'held', account_id = 'ACC-A' WHERE state = 'retired'")
    with Registry.open(settings) as reopened:
        check = reopened.verify()
    assert not check.ok and "do not match the log" in check.problem and "P1 vintage 2024" in check.problem

    shutil.rmtree(registry_folder(settings))
    shutil.copytree(copy, registry_folder(settings))
    _sql(settings, "DELETE FROM log WHERE seq = 3")
    with Registry.open(settings) as reopened:
        check = reopened.verify()
    assert not check.ok and "transaction 3 was deleted" in check.problem


def test_published_files_verify_alone_and_fail_when_tampered(registry, tmp_path):
    first = publish_files(registry, tmp_path / "public")
    registry.retire("A", "P1", 2024, 25, beneficiary="Hunan Airport Group", purpose="voluntary")
    second = publish_files(registry, tmp_path / "public")
    assert second["tree_size"] > first["tree_size"] and second["checkpoints"] == 2 and second["retirements"] == 2
    published = tmp_path / "public"
    result = verify_folder(published)
    assert result.ok and result.consistency_proofs == 1 and result.retirements == 2, result.failures
    assert result.certificates == 2
    newest = registry.retirements().iloc[-1]
    facts = verify_retirement(published, newest.retirement_id)
    assert facts["beneficiary"] == "Hunan Airport Group" and facts["quantity"] == 25
    summary = pd.read_csv(published / "summary.csv")
    assert "account_id" not in summary.columns and summary.retired.iloc[0] == 75

    damages = {
        newest.retirement_id: lambda folder: _edit_json(
            folder / "retirements" / f"{newest.retirement_id}.json",
            lambda d: d.update(leaf=d["leaf"].replace('"quantity":25', '"quantity":2500'))),
        "checkpoints.json": lambda folder: _edit_json(folder / "checkpoints.json",
                                                      lambda d: d[0].update(root_hash="00" * 32)),
        "does not extend": lambda folder: _edit_json(next((folder / "consistency").glob("*.json")),
                                                     lambda d: d.update(proof=d["proof"][::-1] + ["00" * 32])),
        "what it shows was edited": lambda folder: _edit_text(
            folder / "retirements" / f"{newest.retirement_id}.html",
            lambda page: page.replace(">Hunan Airport Group<", ">Somebody Else<")),
    }
    for named, damage in damages.items():
        tampered = tmp_path / "tampered"
        shutil.rmtree(tampered, ignore_errors=True)
        shutil.copytree(published, tampered)
        damage(tampered)
        result = verify_folder(tampered)
        assert not result.ok and any(named in failure for failure in result.failures), result.failures


def _edit_text(path, change) -> None:
    before = path.read_text()
    assert change(before) != before, f"the damage changed nothing in {path.name}"
    path.write_text(change(before))


def _edit_json(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# ------------------------------------------------------------------------------- the service on the demo lake
OPERATORS = {"t-registry-province": [("registry_operator", "P43")],
             "t-registry-county": [("registry_operator", "D430281")]}
PROJECT, SITE, BUYER = "PRJ-430281-02", "S430281-02", "E430281-01"


@pytest.fixture
def registered(small_demo_lake, tmp_path):
    """A copy of the demo lake with two registry operators (its project PROJECT is registered)."""
    return copy_lake_with_people(small_demo_lake, tmp_path / "lake", OPERATORS)


@pytest.fixture
def lake(registered):
    """The registered project's 2025 monitoring report and its verification recorded through the lifecycle
    service (by hand: the full lifecycle test drafts the report from the lake)."""
    copied = registered
    with Security.open(copied) as security:
        operator = security.sessions.login("t-registry-province", TEST_PASSWORD).principal
        projects.record_step(security, operator, copied, PROJECT, "monitoring_report", body=SITE,
                             on=date(2026, 2, 1), vintage=2025, note="removals 2025 by inventory")
        projects.record_step(security, operator, copied, PROJECT, "verified", body="VB-07", on=date(2026, 3, 20),
                             vintage=2025)
    return copied


@pytest.fixture
def people(lake):
    with Security.open(lake) as security:
        yield security, {n: security.sessions.login(n, TEST_PASSWORD).principal for n in (*OPERATORS, "t-officer")}


def _figures(settings) -> pd.Series:
    with Registry.open(settings) as book:
        table = book.reconcile().set_index("project_id")
        assert table.ok.all(), table
        return table.loc[PROJECT]


@pytest.mark.slow
def test_full_registry_lifecycle_through_the_service(registered, tmp_path):
    """registered project -> monitoring report drafted from the demo lake (papermill) -> verified -> issued with
    buffer -> transfer requested and accepted (four-eyes) -> part retired for a cap year (the cap status counts
    it) -> pledged -> released -> reversal cancels buffer; the reconciliation holds at every step and the lake
    mirrors every ownership change."""
    lake = registered
    with Security.open(lake) as security:
        p = {n: security.sessions.login(n, TEST_PASSWORD).principal for n in (*OPERATORS, "t-officer")}
        _lifecycle(security, p, lake, tmp_path)


def _lifecycle(security, p, lake, tmp_path) -> None:
    province, county = p["t-registry-province"], p["t-registry-county"]
    drafted = monitoring.draft(security, province, lake, PROJECT, 2025, out=tmp_path / "monitoring", body=SITE,
                               on=date(2026, 2, 1), lang="en")
    report = drafted.html.read_text()
    assert "Carbon sink project monitoring report" in report and "Removals by sinks" in report
    with Lake.open(lake, read_only=True) as opened:
        figures = monitoring.collect(opened, PROJECT, 2025)
        history = projects.lifecycle(opened, PROJECT)
    assert f"sha256:{drafted.figures_sha256}" in history.note.iloc[-1]  # the figures are the step's document
    assert figures.removals_tco2e == pytest.approx(figures.account_removals_tco2e)
    projects.record_step(security, province, lake, PROJECT, "verified", body="VB-07", on=date(2026, 3, 20),
                         vintage=2025, note=f"confirmed {figures.proposed_credits} credits")
    assert figures.proposed_credits >= 5000
    with pytest.raises(RegistryRefused, match="not a 'verified' event"):
        service.issue(security, province, lake, PROJECT, 2025, 5000, verification_ref=f"{PROJECT}-M2025")
    issued = service.issue(security, province, lake, PROJECT, 2025, 5000, verification_ref=f"{PROJECT}-V2025",
                           buffer_share=0.2)
    assert issued["quantity"] == 5000 and _figures(lake)[["issued", "held", "buffer"]].tolist() == [5000, 4000, 1000]
    with pytest.raises(RegistryRefused, match="issued already"):
        service.issue(security, province, lake, PROJECT, 2025, 10, verification_ref=f"{PROJECT}-V2025")

    service.open_accounts(security, county, lake, BUYER)
    requested = service.request_transfer(security, province, lake, SITE, BUYER, PROJECT, 2025, 2000, price_cny=61.5)
    with pytest.raises(RegistryRefused, match="four-eyes"):
        service.accept_transfer(security, province, lake, requested["transfer_id"])
    with pytest.raises(PermissionDenied):  # a data officer is no registry operator
        service.accept_transfer(security, p["t-officer"], lake, requested["transfer_id"])
    service.accept_transfer(security, county, lake, requested["transfer_id"])

    with Lake.open(lake, read_only=True) as opened:
        before = caps.cap_status(opened, BUYER, 2025).credits_retired
    service.retire(security, county, lake, BUYER, PROJECT, 2025, 500, beneficiary=BUYER, purpose="compliance",
                   cap_year=2025)
    with Lake.open(lake, read_only=True) as opened:
        assert caps.cap_status(opened, BUYER, 2025).credits_retired == before + 500
    with pytest.raises(RegistryRefused, match="has no cap for 2031"):
        service.retire(security, county, lake, BUYER, PROJECT, 2025, 1, beneficiary=BUYER, purpose="compliance",
                       cap_year=2031)

    pledged = service.pledge(security, county, lake, BUYER, PROJECT, 2025, 1000, pledgee="Bank of Changsha")
    with pytest.raises(RegistryRefused, match="1,000 pledged"):
        service.request_transfer(security, county, lake, BUYER, SITE, PROJECT, 2025, 600)
    assert _figures(lake)[["held", "pledged", "retired"]].tolist() == [2500, 1000, 500]
    service.release(security, county, lake, BUYER, pledged["pledge_id"])
    service.report_reversal(security, province, lake, PROJECT, 300, cause="fire", note="12 ha burnt in compartment 7")
    final = _figures(lake)
    assert final[["issued", "held", "pledged", "retired", "cancelled", "buffer"]].tolist() == [5000, 3500, 0, 500, 300, 700]

    with Lake.open(lake, read_only=True) as opened:
        mirrored = opened.read("credit_event", where="project_id = ?", params=[PROJECT])
    assert set(mirrored.event_type) == {"issue", "transfer", "retire", "pledge", "release", "cancel"}
    assert mirrored[mirrored.event_type == "transfer"].price_cny.iloc[0] == 61.5
    with Registry.open(lake) as book:
        assert book.verify().ok
        assert mirror_is_complete(lake, book)
    audit = security.audit.entries(action="operate_registry", limit=200)
    failed = [e for e in audit if e.outcome == "failed"]
    assert any("four-eyes" in e.detail for e in failed) and any("issued already" in e.detail for e in failed)
    assert any(e.outcome == "denied" for e in audit)


def mirror_is_complete(settings, book: Registry) -> bool:
    with Lake.open(settings) as opened:
        return mirror(opened, book) == 0


def test_an_export_needs_a_second_operator_to_confirm_and_is_mirrored(lake, people, tmp_path, monkeypatch):
    security, p = people
    province, county = p["t-registry-province"], p["t-registry-county"]
    service.issue(security, province, lake, PROJECT, 2025, 1000, verification_ref=f"{PROJECT}-V2025")
    session = tmp_path / "session"
    session.write_text(security.sessions.login("t-registry-province", TEST_PASSWORD).token)
    monkeypatch.setenv("CARBON_SESSION_FILE", str(session))
    asked = CliRunner().invoke(app, ["registry", "export", SITE, "--project", PROJECT, "--vintage", "2025", "--quantity",
                                     "200", "--to", "Verra VCS", "--lake", str(lake.lake)])
    assert asked.exit_code == 0 and "export_request done" in asked.output, asked.output
    with Registry.open(lake) as book:
        export_id = book.exports().export_id.iloc[0]
    with pytest.raises(RegistryRefused, match="four-eyes"):
        service.confirm_export(security, province, lake, export_id, destination_ref="VCS-4471-2025-001")
    service.confirm_export(security, county, lake, export_id, destination_ref="VCS-4471-2025-001")
    with Lake.open(lake, read_only=True) as opened:
        exported = opened.read("credit_event", where="event_type = 'export'")
    assert exported.quantity_tco2e.sum() == 200 and exported.to_account.isna().all()
    with Registry.open(lake) as book:
        summary = public_summary(book).set_index("project_id").loc[PROJECT]
        assert book.verify().ok
    assert (summary.issued, summary.exported, summary.outstanding) == (1000, 200, 600)  # 200 to the buffer


def test_service_refusals_name_the_project_and_are_audited(lake, people):
    security, p = people
    province = p["t-registry-province"]
    with pytest.raises(RegistryRefused, match="no project 'PRJ-NOPE'"):
        service.issue(security, province, lake, "PRJ-NOPE", 2025, 10, verification_ref="V")
    with pytest.raises(RegistryRefused, match="outside PRJ-430281-02's crediting period"):
        service.issue(security, province, lake, PROJECT, 2050, 10, verification_ref=f"{PROJECT}-V2025")
    with pytest.raises(RegistryRefused, match="not an organisation"):
        service.open_accounts(security, province, lake, "E999999-99")
    with pytest.raises(PermissionDenied):  # the county operator's subtree does not hold this project's site
        service.issue(security, p["t-registry-county"], lake, "PRJ-430121-02", 2025, 10, verification_ref="x")
    failed = security.audit.entries(action="operate_registry", outcome="failed")
    assert {"no project 'PRJ-NOPE'" in e.detail for e in failed} >= {True}
    assert any("crediting period" in e.detail for e in failed)


def test_the_lake_refuses_credit_events_written_around_the_registry(lake):
    """The writer once took a retirement of a million never-issued credits with a made-up hash."""
    forged = pd.DataFrame([dict(event_id="EV-FORGED", project_id=PROJECT, event_type="retire",
                                event_time=pd.Timestamp("2026-03-01"), vintage=2025, serial_start=1,
                                serial_end=1_000_000, quantity_tco2e=1_000_000.0, from_account="ACC-X",
                                to_account=None, prev_hash="", hash="made-up")])
    with Lake.open(lake) as opened, pytest.raises(OwnedTableError, match="registry"):
        opened.append("credit_event", forged)


def test_a_lake_with_another_registrys_mirror_is_refused(lake, tmp_path):
    shutil.rmtree(registry_folder(lake))  # the lake's own registry is lost; a new, empty one is opened
    with Registry.open(lake) as fresh, Lake.open(lake) as opened:
        fresh.open_accounts(SITE)
        with pytest.raises(MirrorMismatch, match="were not published by"):
            mirror(opened, fresh)


def test_cli_operations_serial_search_and_third_party_verification(lake, people, tmp_path, monkeypatch):
    security, _ = people
    token = security.sessions.login("t-registry-province", TEST_PASSWORD).token
    session = tmp_path / "session"
    session.write_text(token)
    monkeypatch.setenv("CARBON_SESSION_FILE", str(session))
    runner = CliRunner()
    where = ["--lake", str(lake.lake)]
    done = runner.invoke(app, ["registry", "issue", "--project", PROJECT, "--vintage", "2025", "--quantity", "800",
                               "--verification", f"{PROJECT}-V2025", *where])
    assert done.exit_code == 0 and "issue done" in done.output, done.output
    bad = runner.invoke(app, ["registry", "retire", SITE, "--project", PROJECT, "--vintage", "2025", "--quantity",
                              "1.5", "--beneficiary", "x", "--purpose", "voluntary", *where])
    assert bad.exit_code == 2 and "--quantity" in bad.output  # a whole number is asked for
    over = runner.invoke(app, ["registry", "retire", SITE, "--project", PROJECT, "--vintage", "2025", "--quantity",
                               "5000", "--beneficiary", "x", "--purpose", "voluntary", *where])
    assert over.exit_code == 1 and "free to move, not 5,000" in over.output
    retired = runner.invoke(app, ["registry", "retire", SITE, "--project", PROJECT, "--vintage", "2025", "--quantity",
                                  "40", "--beneficiary", "Changsha Metro", "--purpose", "voluntary", *where])
    assert retired.exit_code == 0, retired.output
    with Registry.open(lake) as book:
        first_serial = int(book.blocks(project_id=PROJECT).serial_start.min())
    found = runner.invoke(app, ["registry", "serial", str(first_serial), "--json", *where])
    assert found.exit_code == 0 and json.loads(found.output)["state"] == "retired"
    assert "ACC-" not in found.output  # the public view shows no account
    in_chinese = runner.invoke(app, ["registry", "serial", str(first_serial), *where], env={"CARBON_LANG": "zh"})
    assert in_chinese.exit_code == 0 and "签发（日志第" in in_chinese.output and "注销（日志第" in in_chinese.output
    out = tmp_path / "public"
    assert runner.invoke(app, ["registry", "publish", "--out", str(out), *where]).exit_code == 0
    checked = runner.invoke(app, ["registry", "verify", "--published", str(out)])
    assert checked.exit_code == 0 and "retirement inclusion proofs" in checked.output, checked.output
    assert "retirement certificates" in checked.output
    retirement_id = next(f.stem for f in (out / "retirements").glob("*.json") if "Changsha Metro" in f.read_text())
    written = runner.invoke(app, ["registry", "certificate", retirement_id, "--out", str(tmp_path / "cert"), "--pdf",
                                  *where])
    assert written.exit_code == 0, written.output
    page, pdf = tmp_path / "cert" / f"{retirement_id}.html", tmp_path / "cert" / f"{retirement_id}.pdf"
    assert "碳信用注销证明" in page.read_text() and "Changsha Metro" in page.read_text()
    assert pdf.read_bytes()[:5] == b"%PDF-"
    key = ["--key", str(out / "registry-public-key.pem")]
    valid = runner.invoke(app, ["registry", "verify", "--certificate", str(page), *key])
    assert valid.exit_code == 0 and f"certificate valid: {retirement_id}" in valid.output, valid.output
    assert "--key" in runner.invoke(app, ["registry", "verify", "--certificate", str(page)]).output
    page.write_text(page.read_text().replace(">Changsha Metro<", ">Changsha Metro Group<"))
    forged = runner.invoke(app, ["registry", "verify", "--certificate", str(page), *key])
    assert forged.exit_code == 1 and "was edited" in forged.output
    unknown = runner.invoke(app, ["registry", "certificate", "RTM-nope", "--out", str(tmp_path / "cert"), *where])
    assert unknown.exit_code == 1 and "no retirement 'RTM-nope'" in unknown.output
    assert runner.invoke(app, ["registry", "verify", *where]).exit_code == 0
    step = runner.invoke(app, ["registry", "project-step", PROJECT, "post_evaluated", "--body", "VB-09", "--on",
                               "2026-06-01", "--met", "boundary_as_registered", "--met", "no_such_item", *where])
    assert step.exit_code == 2  # an item that is on no checklist
    step = runner.invoke(app, ["registry", "project-step", PROJECT, "post_evaluated", "--body", "VB-09", "--on",
                               "2026-06-01", "--met", "boundary_as_registered", *where])
    assert step.exit_code == 1 and "not met: monitoring_plan_followed" in step.output
    met = [arg for item in projects.CHECKLISTS["post_evaluated"] for arg in ("--met", item)]
    step = runner.invoke(app, ["registry", "project-step", PROJECT, "post_evaluated", "--body", "VB-09", "--on",
                               "2026-06-01", *met, *where])
    assert step.exit_code == 0 and "post_evaluated recorded" in step.output, step.output
    retirement = next(f for f in (out / "retirements").glob("*.json") if "Changsha Metro" in f.read_text())
    _edit_json(retirement, lambda d: d.update(leaf=d["leaf"].replace("Changsha Metro", "Somebody Else")))
    tampered = runner.invoke(app, ["registry", "verify", "--published", str(out)])
    assert tampered.exit_code == 1 and retirement.stem in tampered.output


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_a_project_goes_from_initiation_to_acceptance_in_order(lake, people):
    """Clause 5.3: initiated -> validated -> registered -> monitoring report -> verified -> issued ->
    post-evaluated -> accepted, each step in order, by an independent body where it must be, with its checklist."""
    security, p = people
    province = p["t-registry-province"]
    new = projects.NewProject("PRJ-430281-01", "S430281-01", "醴陵城市绿地碳汇项目", "Liling urban green project",
                              "afforestation", "CCER-14-001-V01", date(2024, 1, 1), date(2043, 12, 31), 800.0)
    projects.initiate(security, province, lake, new, on=date(2024, 1, 10))
    step = lambda name, on, **kw: projects.record_step(security, province, lake, new.project_id, name,  # noqa: E731
                                                       on=on, **kw)
    with pytest.raises(RegistryRefused, match="'registered' cannot follow it \\(possible now: validated\\)"):
        step("registered", date(2024, 2, 1), body="VB-07")
    with pytest.raises(RegistryRefused, match="independent of the proponent"):
        step("validated", date(2024, 2, 1), body="S430281-01")
    step("validated", date(2024, 2, 1), body="VB-07", note="design and monitoring plan", document=("plan.pdf", PDF))
    with pytest.raises(RegistryRefused, match="not after the previous step"):
        step("registered", date(2024, 1, 15), body="registry")
    step("registered", date(2024, 3, 1), body="provincial registry")
    with pytest.raises(RegistryRefused, match="'verified' cannot follow"):
        step("verified", date(2025, 3, 1), body="VB-07", vintage=2024)
    with pytest.raises(RegistryRefused, match="outside the crediting period"):
        step("monitoring_report", date(2025, 2, 1), body="S430281-01", vintage=2023)
    step("monitoring_report", date(2025, 2, 1), body="S430281-01", vintage=2024, document=("report.pdf", PDF))
    with pytest.raises(RegistryRefused, match="no monitoring report of 2025"):
        step("verified", date(2025, 3, 1), body="VB-07", vintage=2025)
    step("verified", date(2025, 3, 1), body="VB-07", vintage=2024)
    issued = service.issue(security, province, lake, new.project_id, 2024, 700,
                           verification_ref=f"{new.project_id}-V2024")
    assert issued["quantity"] == 700
    with pytest.raises(RegistryRefused, match="not met: no_unresolved_reversal"):
        step("post_evaluated", date(2025, 9, 1), body="VB-09",
             checklist={item: True for item in projects.CHECKLISTS["post_evaluated"][:-1]})
    step("post_evaluated", date(2025, 9, 1), body="VB-09",
         checklist={item: True for item in projects.CHECKLISTS["post_evaluated"]})
    step("accepted", date(2025, 10, 1), body="provincial forestry bureau",
         checklist={item: True for item in projects.CHECKLISTS["accepted"]})
    with Lake.open(lake, read_only=True) as opened:
        history = projects.lifecycle(opened, new.project_id)
        assert projects.status(opened, new.project_id) == "accepted"
    assert list(history.event_type) == ["initiated", "validated", "registered", "monitoring_report", "verified",
                                        "post_evaluated", "accepted"]
    documented = history[history.note.fillna("").str.contains("sha256:")]
    assert len(documented) == 2  # the plan and the report, stored once by content
    sha = documented.note.iloc[0].split("sha256:")[1].rstrip("]")
    from carbonlib.ledger import evidence
    assert evidence.read(lake, sha) == PDF
    failed = security.audit.entries(action="operate_registry", outcome="failed", limit=50)
    assert sum("cannot follow" in e.detail for e in failed) == 2 and any("checklist" in e.detail for e in failed)
