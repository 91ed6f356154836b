"""The security layer: passwords, lockout, sessions, the administrator triad, scopes and the audit log.

Merkle trees are checked against the RFC 6962 reference vectors of Certificate
Transparency (transparency-dev/merkle, ``testonly/constants.go``: LeafInputs, NodeHashes,
RootHashes); the other tests attack the store the way the issue lists (wrong passwords until
lockout, expired and idle sessions, tampered and replayed tokens, the triad twice on one
user, edited, deleted and truncated audit rows).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pyotp
import pytest
from conftest import lake_settings
from typer.testing import CliRunner

from carbonlib.cli import app
from carbonlib.security import (
    LoginRefused,
    PermissionDenied,
    Security,
    SessionInvalid,
    StoreError,
    merkle,
)
from carbonlib.security.passwords import problems
from carbonlib.security.policy import Policy
from carbonlib.security.store import normalise_username

runner = CliRunner()
PASSWORD = "Solid-pass-2364"
PATHS = {"P43": "P43", "C4301": "P43/C4301", "D430121": "P43/C4301/D430121", "E430121-01": "P43/C4301/D430121/E430121-01",
         "D430181": "P43/C4301/D430181", "E430181-01": "P43/C4301/D430181/E430181-01"}

# RFC 6962 reference tree (transparency-dev/merkle testonly/constants.go)
LEAF_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
ROOTS = ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
         "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
         "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
         "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
         "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
         "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
         "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
NODE = {(0, 1): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}


# ------------------------------------------------------------------------------ Merkle (RFC 6962)
LEAVES = [merkle.leaf_hash(bytes.fromhex(x)) for x in LEAF_INPUTS]


def test_roots_match_the_rfc6962_reference_tree():
    assert [merkle.root(LEAVES[:n]).hex() for n in range(9)] == ROOTS


def test_proofs_match_the_reference_node_hashes():
    # PATH(0, D[8]) = the sibling subtrees on the way up: leaf 1, nodes [2:4] and [4:8]
    assert [p.hex() for p in merkle.inclusion_proof(LEAVES, 0)] == [NODE[0, 1], NODE[1, 1], NODE[2, 1]]
    # PROOF(4, D[8]): the old tree is the complete subtree [0:4]; the proof is its sibling [4:8]
    assert [p.hex() for p in merkle.consistency_proof(LEAVES, 4)] == [NODE[2, 1]]
    # PROOF(6, D[8]) (RFC 6962 2.1.3's worked case for m=6): [4:6], [6:8], [0:4]
    assert [p.hex() for p in merkle.consistency_proof(LEAVES, 6)] == [NODE[1, 2], NODE[1, 3], NODE[2, 0]]


def test_every_proof_verifies_and_a_wrong_one_does_not():
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(40)]
    for n in range(1, 41):
        root = merkle.root(leaves[:n])
        for i in range(n):
            proof = merkle.inclusion_proof(leaves[:n], i)
            assert merkle.verify_inclusion(leaves[i], i, n, proof, root)
            assert not merkle.verify_inclusion(leaves[(i + 1) % n], i, n, proof, root) or n == 1
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(leaves[:n], m)
            assert merkle.verify_consistency(m, n, merkle.root(leaves[:m]), root, proof)
            if m < n:
                assert not merkle.verify_consistency(m, n, merkle.root(leaves[1:m + 1]), root, proof)


def test_the_frontier_gives_the_root_of_an_appended_log():
    frontier = merkle.Frontier()
    for n, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.root().hex() == ROOTS[n]
        assert merkle.Frontier.from_json(frontier.to_json()).root() == frontier.root()


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture
def security(tmp_path):
    """A new security store with the triad (one-time passwords changed to PASSWORD) and a county manager."""
    settings = lake_settings(tmp_path / "lake")
    sec, triad = Security.init(settings)
    secrets = {a.username: a.totp_secret for a in triad}
    for account in triad:
        login = sec.sessions.login(account.username, account.one_time_password, pyotp.TOTP(account.totp_secret).now())
        sec.sessions.change_password(login.token, account.one_time_password, PASSWORD)
    sec.provision("county", "County manager", grants=[("manager", "D430121")], password=PASSWORD, must_change=False)
    sec.totp = secrets
    yield sec
    sec.close()


def admin(sec: Security, role: str):
    return sec.sessions.login(role, PASSWORD, pyotp.TOTP(sec.totp[role]).now()).principal


# ------------------------------------------------------------------------------ passwords and logins
def test_passwords_are_argon2id_and_never_stored_plain(security):
    with security.store.transaction() as tx:
        hashes = [h for (h,) in tx.rows("SELECT password_hash FROM users")]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    store_bytes = Path(security.store.location.path).read_bytes()
    assert PASSWORD.encode() not in store_bytes


@pytest.mark.parametrize("password, lacking", [("short1A", "at least 8"), ("alllowercase", "kinds"),
                                               ("county-Pass-1", "username"), ("x" * 300 + "A1", "at most")])
def test_the_password_policy_names_what_is_missing(password, lacking):
    assert any(lacking in p for p in problems(password, Policy(), username="county"))


def test_a_recent_password_cannot_come_back(security):
    token = security.sessions.login("county", PASSWORD).token
    security.sessions.change_password(token, PASSWORD, "Second-pass-2364")
    with pytest.raises(ValueError, match="last 5"):
        security.sessions.change_password(token, "Second-pass-2364", PASSWORD)


def test_wrong_passwords_lock_the_account_and_the_right_one_then_fails_too(security):
    for attempt in range(5):
        with pytest.raises(LoginRefused) as refused:
            security.sessions.login("county", "Wrong-pass-1")
    assert "locked for 10 minutes" in str(refused.value)
    with pytest.raises(LoginRefused, match="locked after 5 failed logins"):
        security.sessions.login("county", PASSWORD)
    admin(security, "sysadmin")
    security.admin.unlock(admin(security, "sysadmin"), "county")
    assert security.sessions.login("county", PASSWORD).principal.username == "county"
    denied = [e for e in security.audit.entries(actor="county", action="login") if e.outcome == "denied"]
    assert len(denied) >= 6 and any(e.detail == "locked out" for e in denied)


def test_administrators_need_their_code(security):
    with pytest.raises(LoginRefused):
        security.sessions.login("auditor", PASSWORD)
    with pytest.raises(LoginRefused):
        security.sessions.login("auditor", PASSWORD, "000000")
    assert admin(security, "auditor").admin_role == "auditor"


def test_a_disabled_account_cannot_log_in_and_its_sessions_end(security):
    token = security.sessions.login("county", PASSWORD).token
    security.admin.set_disabled(admin(security, "sysadmin"), "county", True)
    with pytest.raises(SessionInvalid):
        security.sessions.principal(token)
    with pytest.raises(LoginRefused, match="disabled"):
        security.sessions.login("county", PASSWORD)


@pytest.mark.parametrize("name, stored", [("County", "county"), ("ＣＯＵＮＴＹ", "county"), (" county ", "county")])
def test_usernames_are_normalised(security, name, stored):
    assert security.sessions.login(name, PASSWORD).principal.username == stored


@pytest.mark.parametrize("name", ["a" * 65, "x", "bad name", "ünïcode", "-lead", "a/b", "\u202eevil"])
def test_odd_and_overlong_usernames_are_refused_clearly(name):
    with pytest.raises(ValueError, match="not allowed"):
        normalise_username(name)


# ------------------------------------------------------------------------------ sessions
def _age(security: Security, token: str, column: str, minutes: int) -> None:
    """Move a session's time stamp ``minutes`` into the past (what waiting would do)."""
    from datetime import datetime, timedelta, timezone

    from carbonlib.security.sessions import token_hash

    stamp = (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with security.store.transaction() as tx:
        tx.run(f"UPDATE sessions SET {column} = ? WHERE session_hash = ?", [stamp, token_hash(token)])


def test_an_idle_session_times_out_and_an_old_one_expires(security):
    idle = security.sessions.login("county", PASSWORD).token
    _age(security, idle, "last_seen", 16)
    with pytest.raises(SessionInvalid, match="idle timeout"):
        security.sessions.principal(idle)
    old = security.sessions.login("county", PASSWORD).token
    _age(security, old, "expires_at", 1)
    with pytest.raises(SessionInvalid, match="expired"):
        security.sessions.principal(old)
    with pytest.raises(SessionInvalid, match="ended"):  # and stays ended
        security.sessions.principal(old)


def test_a_tampered_or_replayed_token_is_refused(security):
    token = security.sessions.login("county", PASSWORD).token
    assert security.sessions.principal(token).username == "county"
    with pytest.raises(SessionInvalid, match="unknown session"):
        security.sessions.principal(token[:-1] + ("A" if token[-1] != "A" else "B"))
    security.sessions.logout(token)
    with pytest.raises(SessionInvalid, match="logout"):
        security.sessions.principal(token)


def test_a_one_time_password_opens_only_the_password_change(security):
    sysadmin = admin(security, "sysadmin")
    created = security.admin.create_user(sysadmin, "newcomer", "New Comer")
    login = security.sessions.login("newcomer", created.one_time_password)
    assert login.must_change
    with pytest.raises(SessionInvalid, match="must be changed"):
        security.sessions.principal(login.token)
    security.sessions.change_password(login.token, created.one_time_password, "Fresh-pass-2364")
    assert security.sessions.principal(login.token).username == "newcomer"


def test_the_store_keeps_only_session_hashes(security):
    token = security.sessions.login("county", PASSWORD).token
    assert token.encode() not in Path(security.store.location.path).read_bytes()


# ------------------------------------------------------------------------------ the triad and grants
def test_the_triad_is_mutually_exclusive_in_the_store_itself(security):
    secadmin = admin(security, "secadmin")
    with pytest.raises(ValueError, match="mutually exclusive"):
        security.admin.set_admin_role(secadmin, "sysadmin", "auditor")
    with pytest.raises(ValueError, match="holds business roles"):
        security.admin.set_admin_role(secadmin, "county", "auditor")
    with pytest.raises(ValueError, match="administrator holds no business role"):
        security.admin.grant(secadmin, "auditor", "manager", "P43", PATHS)
    # past the service: the database refuses it too
    db = sqlite3.connect(security.store.location.path)
    db.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO grants VALUES ((SELECT user_id FROM users WHERE username = 'auditor'), 0, 'manager', "
                   "'P43', 'x', 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE users SET admin_role = 'auditor', is_admin = 1 WHERE username = 'county'")
    db.close()


def test_each_administrator_does_only_their_part(security):
    sysadmin, secadmin, auditor = (admin(security, r) for r in ("sysadmin", "secadmin", "auditor"))
    with pytest.raises(PermissionDenied, match="needs the role secadmin"):
        security.admin.grant(sysadmin, "county", "analyst", "P43", PATHS)
    with pytest.raises(PermissionDenied, match="needs the role sysadmin"):
        security.admin.create_user(secadmin, "x1", "x")
    with pytest.raises(PermissionDenied):
        security.admin.create_user(auditor, "x2", "x")
    with pytest.raises(PermissionDenied, match="needs the role auditor"):
        security.require(sysadmin, "read_audit")
    security.require(auditor, "read_audit")
    with pytest.raises(PermissionDenied):
        security.require(auditor, "view_figures", "P43", paths=PATHS)
    security.admin.grant(secadmin, "county", "analyst", "D430181", PATHS)
    with pytest.raises(ValueError, match="not an org"):
        security.admin.grant(secadmin, "county", "analyst", "X999", PATHS)
    denied = security.audit.entries(outcome="denied")
    assert {"grant_roles", "manage_accounts", "read_audit", "view_figures"} <= {e.action for e in denied}


def test_a_county_manager_acts_only_inside_its_county(security):
    county = security.sessions.login("county", PASSWORD).principal
    security.require(county, "view_figures", "E430121-01", paths=PATHS)
    with pytest.raises(PermissionDenied, match="on D430181"):
        security.require(county, "view_figures", "D430181", paths=PATHS)
    with pytest.raises(PermissionDenied):
        security.require(county, "view_figures", "P43", paths=PATHS)
    assert security.audit.entries(actor="county", outcome="denied")[0].org_id == "P43"


def test_an_operation_is_authorised_then_recorded_as_started_and_ok_or_failed(security):
    analyst = security.provision("analyst", "Analyst", grants=[("analyst", "P43")], password=PASSWORD,
                                 must_change=False)
    principal = security.sessions.login(analyst.username, PASSWORD).principal
    with security.operation(principal, "compute_accounts", "P43", paths=PATHS, object="accounts build") as operation:
        operation.detail = "12 figures written"
    with pytest.raises(RuntimeError, match="disk full"):
        with security.operation(principal, "compute_accounts", "P43", paths=PATHS, object="accounts build"):
            raise RuntimeError("disk full")
    county = security.sessions.login("county", PASSWORD).principal
    with pytest.raises(PermissionDenied):
        with security.operation(county, "compute_accounts", "P43", paths=PATHS, object="accounts build"):
            pytest.fail("the block of a refused operation must not run")
    records = [(e.actor, e.outcome, e.detail) for e in security.audit.entries(action="compute_accounts")]
    assert records == [("county", "denied", "needs analyst or scheduler on P43"),
                       ("analyst", "failed", "RuntimeError: disk full"), ("analyst", "started", ""),
                       ("analyst", "ok", "12 figures written"), ("analyst", "started", "")]


def test_services_take_the_principal_and_refuse_outside_its_scope(small_demo_lake, tmp_path):
    from conftest import TEST_PASSWORD, copy_lake

    from carbonlib.accounting import service as accounting
    from carbonlib.reporting import service as reporting

    copy = copy_lake(small_demo_lake, tmp_path / "lake")
    with Security.open(copy) as sec:
        county = sec.sessions.login("t-changsha-county", TEST_PASSWORD).principal
        analyst = sec.sessions.login("t-analyst", TEST_PASSWORD).principal
        with pytest.raises(PermissionDenied, match="may not compute accounts on P43"):
            accounting.refresh(sec, county, copy)
        with pytest.raises(PermissionDenied, match="may not run reports on D430181"):
            reporting.run_reports(sec, county, copy, "monthly", "2025-10", orgs=["D430121", "D430181"],
                                  out_dir=tmp_path / "reports", progress=False)
        assert not (tmp_path / "reports").exists()  # refused before any notebook ran
        with pytest.raises(ValueError, match="unknown org id"):
            reporting.run_reports(sec, county, copy, "monthly", "2025-10", orgs=["E999"], out_dir=tmp_path / "r")
        result = accounting.refresh(sec, analyst, copy)
        records = sec.audit.entries(action="compute_accounts", limit=3)
        assert [(e.actor, e.outcome) for e in records] == [("t-analyst", "ok"), ("t-analyst", "started"),
                                                           ("t-changsha-county", "denied")]
        assert records[0].detail.endswith(f"{result.rows_deleted} deleted")
        assert sec.audit.entries(action="run_reports", limit=1)[0].org_id == "D430181"


def test_the_policy_is_checked_and_changed_by_the_security_administrator_only(security):
    secadmin = admin(security, "secadmin")
    assert security.admin.set_policy(secadmin, idle_minutes="10").idle_minutes == 10
    with pytest.raises(ValueError, match="from 8"):
        security.admin.set_policy(secadmin, min_length="4")
    with pytest.raises(ValueError, match="unknown policy setting"):
        security.admin.set_policy(secadmin, backdoor="1")
    with pytest.raises(PermissionDenied):
        security.admin.set_policy(admin(security, "sysadmin"), idle_minutes="60")


# ------------------------------------------------------------------------------ the audit log
def _tamper(security: Security, sql: str, params=()) -> None:
    db = sqlite3.connect(security.store.location.path)
    db.execute(sql, params)
    db.commit()
    db.close()


def test_a_clean_log_verifies_with_the_secret_and_with_the_public_key_alone(security):
    security.audit.checkpoint()
    assert security.audit.verify().ok
    assert security.audit.verify(security.audit.keys.public_pem()).ok


def test_an_edited_entry_is_named(security):
    security.audit.checkpoint()
    _tamper(security, "UPDATE audit SET actor = actor || '-innocent' WHERE seq = 3")
    result = security.audit.verify()
    assert not result.ok and result.first_bad_seq == 3 and "entry 3" in result.problem and "edited" in result.problem


def test_an_entry_edited_to_a_number_is_named_too(security):
    """SQLite keeps a number written into a text column as a number: the verifier names the row, never crashes."""
    _tamper(security, "UPDATE audit SET actor = 42 WHERE seq = 4")
    result = security.audit.verify()
    assert not result.ok and result.first_bad_seq == 4 and "edited" in result.problem


def test_the_canonical_form_is_sorted_compact_utf8_json_byte_for_byte():
    """The verifier's fast template writes exactly ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` (the form every leaf hash and seal is computed over), odd text included."""
    import json

    from carbonlib.security.audit import FIELDS, Entry

    odd = ['ä"\\x\n\t\u2028<>&', "o\x00\x1f\x7f", "", "碳汇 😀 €", "'; DROP TABLE audit; --"]
    for n, text in enumerate(odd):
        entry = Entry(n * 1_000_003, "2026-01-01T00:00:00.000000Z", text, "role", "action", text, "P43", "ok", text,
                      text * 3)
        expected = json.dumps({name: getattr(entry, name) for name in FIELDS}, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()
        assert entry.canonical() == expected


def test_an_edit_that_also_rewrites_the_leaf_hash_is_caught_by_the_seal(security):
    import json

    from carbonlib.security.audit import FIELDS, Entry

    with security.store.transaction() as tx:
        row = tx.one(f"SELECT {', '.join(FIELDS)} FROM audit WHERE seq = 2")
    forged = Entry(*row[:5], "someone else", *row[6:])
    _tamper(security, "UPDATE audit SET object = ?, leaf_hash = ? WHERE seq = 2",
            [forged.object, merkle.leaf_hash(forged.canonical()).hex()])
    assert security.audit.verify().first_bad_seq == 2
    assert json.loads(forged.canonical())["object"] == "someone else"


def test_a_deleted_entry_and_a_truncated_log_are_named(security):
    size = security.audit.checkpoint().tree_size
    _tamper(security, "DELETE FROM audit WHERE seq = 4")
    deleted = security.audit.verify()
    assert not deleted.ok and deleted.first_bad_seq == 4 and "deleted" in deleted.problem
    _tamper(security, "DELETE FROM audit WHERE seq >= 4")
    truncated = security.audit.verify()
    assert not truncated.ok and "truncated" in truncated.problem and f"covers {size}" in truncated.problem


def test_a_forged_checkpoint_is_refused(security):
    security.audit.checkpoint()
    _tamper(security, "UPDATE audit_checkpoints SET root_hash = ?", ["00" * 32])
    assert "invalid signature" in security.audit.verify().problem


def test_the_action_fails_when_the_audit_record_cannot_be_written(security):
    _tamper(security, "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.Error):
        security.sessions.login("county", PASSWORD)
    with security.store.transaction() as tx:
        assert tx.one("SELECT count(*) FROM sessions s JOIN users u USING (user_id) WHERE u.username = 'county'")[0] == 0


def test_archive_copies_old_entries_and_keeps_them(security, tmp_path):
    from datetime import datetime, timedelta, timezone

    before = len(security.audit.entries(limit=10_000))
    target = security.audit.archive(datetime.now(timezone.utc) + timedelta(minutes=1), tmp_path / "archive")
    import gzip

    assert len(gzip.open(target, "rt").read().splitlines()) == before
    assert len(security.audit.entries(limit=10_000)) >= before and security.audit.verify().ok


# ------------------------------------------------------------------------------ command line
def test_cli_init_login_and_audit_verify(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / "session"))
    init = runner.invoke(app, ["security", "init", "--lake", str(lake)])
    assert init.exit_code == 0, init.output
    lines = {line.split()[0]: line.split() for line in init.output.splitlines() if "password" in line and "TOTP" in line}
    auditor = lines["auditor"]
    secret = pyotp.parse_uri(auditor[4]).secret
    one_time = auditor[2]
    login = runner.invoke(app, ["login", "--lake", str(lake), "--user", "auditor"],
                          input=f"{one_time}\n{pyotp.TOTP(secret).now()}\n{PASSWORD}\n{PASSWORD}\n")
    assert login.exit_code == 0 and "logged in as auditor" in login.output, login.output
    assert oct((tmp_path / "session").stat().st_mode)[-3:] == "600"
    verify = runner.invoke(app, ["audit", "verify", "--lake", str(lake)])
    assert verify.exit_code == 0 and "intact" in verify.output
    search = runner.invoke(app, ["audit", "search", "--lake", str(lake), "--action", "login"])
    assert search.exit_code == 0 and "auditor" in search.output
    again = runner.invoke(app, ["security", "init", "--lake", str(lake)])
    assert again.exit_code == 1 and "refusing" in again.output
    assert runner.invoke(app, ["logout", "--lake", str(lake)]).exit_code == 0
    assert runner.invoke(app, ["audit", "verify", "--lake", str(lake)]).exit_code == 1  # no session any more


def test_a_command_line_session_belongs_to_one_security_store(security, monkeypatch, tmp_path):
    from carbonlib.cli.auth import session_file

    monkeypatch.delenv("CARBON_SESSION_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    other = lake_settings(tmp_path / "other" / "lake")
    assert session_file(security.settings) != session_file(other)
    assert session_file(security.settings).parent == tmp_path / "home" / ".config" / "carbon" / "sessions"
    login = runner.invoke(app, ["login", "--lake", str(security.settings.lake), "--user", "county"],
                          input=f"{PASSWORD}\n")
    assert login.exit_code == 0, login.output
    assert oct(session_file(security.settings).stat().st_mode)[-3:] == "600"
    assert "county (County manager): manager on D430121" in runner.invoke(
        app, ["whoami", "--lake", str(security.settings.lake)]).output
    assert not session_file(other).exists()


def test_a_sysadmin_cannot_read_the_audit_log_from_the_cli(security, monkeypatch, tmp_path):
    from carbonlib.cli.auth import save_token

    monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / "session"))
    save_token(security.settings,
               security.sessions.login("sysadmin", PASSWORD, pyotp.TOTP(security.totp["sysadmin"]).now()).token)
    result = runner.invoke(app, ["audit", "search", "--lake", str(security.settings.lake)])
    assert result.exit_code == 1 and "needs the role auditor" in result.output
    assert security.audit.entries(actor="sysadmin", action="read_audit")[0].outcome == "denied"


def test_commands_that_change_data_need_a_principal(small_demo_lake, tmp_path, monkeypatch):
    from conftest import copy_lake

    copy = copy_lake(small_demo_lake, tmp_path / "lake")
    monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / "none"))
    (Path(str(copy.lake) + "-security") / "service.key").unlink()
    refused = runner.invoke(app, ["accounts", "refresh", "--lake", str(copy.lake)])
    assert refused.exit_code == 1 and "carbon login" in refused.output


def test_no_secret_reaches_the_lake_the_catalog_reports_logs_or_git(small_demo_lake, tmp_path, monkeypatch):
    """Hashes, tokens, TOTP secrets and audit keys live in the security store and its key file only.

    A user logs in from the command line, refreshes the accounts and runs a report; then every
    file of the lake, the report folder, the Intake catalog, the command output and every file
    git tracks is searched for any of the secrets.
    """
    import json
    import subprocess

    from conftest import TEST_PASSWORD, copy_lake

    copy = copy_lake(small_demo_lake, tmp_path / "lake")
    monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / "session"))
    (Path(str(copy.lake) + "-security") / "service.key").unlink()  # act as the logged-in user only
    output = [runner.invoke(app, ["login", "--lake", str(copy.lake), "--user", "t-analyst"],
                            input=f"{TEST_PASSWORD}\n")]
    assert output[0].exit_code == 0, output[0].output
    output.append(runner.invoke(app, ["accounts", "refresh", "--lake", str(copy.lake)]))
    output.append(runner.invoke(app, ["reports", "run", "--period", "2025-10", "--org", "D430121", "--lake",
                                      str(copy.lake), "--out", str(tmp_path / "reports"), "--workers", "1",
                                      "--no-progress"]))
    for result in output:
        assert result.exit_code == 0, result.output

    token = (tmp_path / "session").read_text().strip()
    keys = json.loads((Path(str(copy.lake) + "-security") / "audit.key").read_text())
    with Security.open(copy) as security, security.store.transaction() as tx:
        secrets = [s for (s,) in tx.rows("SELECT totp_secret FROM users") if s]
        hashes = [h for (h,) in tx.rows("SELECT password_hash FROM users")]
        session_hashes = [h for (h,) in tx.rows("SELECT session_hash FROM sessions")]
    needles = [token.encode(), keys["ed25519"].encode(), keys["hmac"].encode(),
               *(s.encode() for s in secrets), *(h.encode()[-22:] for h in hashes),
               *(h.encode() for h in session_hashes)]
    written = [*needles, TEST_PASSWORD.encode()]  # the test password is in conftest.py, so not searched in git

    repo = Path(__file__).resolve().parents[1]
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout
    produced = [p for folder in (Path(copy.lake), tmp_path / "reports") for p in folder.rglob("*") if p.is_file()]
    in_git = [repo / name for name in tracked.decode().split("\0") if name and (repo / name).is_file()]
    assert any(p.suffix == ".parquet" for p in produced) and any(p.suffix == ".html" for p in produced)
    assert any(p.name == "catalog.yaml" for p in in_git)
    argon2_hash = re.compile(rb"\$argon2(id|i|d)\$v=\d+\$m=\d+")
    for path in produced:
        data = path.read_bytes()
        assert not argon2_hash.search(data) and not any(needle in data for needle in written), path
    for path in in_git:
        data = path.read_bytes()
        assert not argon2_hash.search(data) and not any(needle in data for needle in needles), path
    for result in output:
        assert not argon2_hash.search(result.output.encode())
        assert not any(needle.decode() in result.output for needle in written)


def test_a_missing_store_names_the_fix(tmp_path):
    with pytest.raises(StoreError, match="carbon security init"):
        Security.open(lake_settings(tmp_path / "nowhere"))
