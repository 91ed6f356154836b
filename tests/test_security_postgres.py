"""The security store on a real PostgreSQL server: the same rules as on SQLite, enforced by the database."""

from __future__ import annotations

import pyotp
import pytest
from conftest import lake_settings

from carbonlib.security import LoginRefused, Security
from carbonlib.settings import load_settings

PASSWORD = "Solid-pass-2364"


@pytest.fixture
def pg_security(postgres_server, tmp_path):
    import psycopg

    name = f"carbon_sec_{tmp_path.name.replace('-', '_')[-40:]}".lower()
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres_server.replace("dbname=postgres", f"dbname={name}")
    settings = load_settings(lake=tmp_path / "lake", security_store=f"postgres:{dsn}")
    security, triad = Security.init(settings)
    yield security, {a.username: a for a in triad}
    security.close()


def test_the_triad_logs_in_and_the_database_keeps_the_roles_apart(pg_security):
    import psycopg

    security, triad = pg_security
    secadmin = triad["secadmin"]
    login = security.sessions.login("secadmin", secadmin.one_time_password, pyotp.TOTP(secadmin.totp_secret).now())
    security.sessions.change_password(login.token, secadmin.one_time_password, PASSWORD)
    principal = security.sessions.principal(login.token)
    security.provision("county", "County", grants=[("manager", "D430121")], password=PASSWORD, must_change=False)
    with pytest.raises(ValueError, match="mutually exclusive"):
        security.admin.set_admin_role(principal, "sysadmin", "auditor")
    with pytest.raises(ValueError, match="holds business roles"):
        security.admin.set_admin_role(principal, "county", "auditor")
    with pytest.raises(psycopg.errors.IntegrityError), security.store.transaction() as tx:
        tx.run("INSERT INTO grants VALUES ((SELECT user_id FROM users WHERE username = 'auditor'), 0, 'manager', "
               "'P43', 'x', 'x')")
    for _ in range(5):
        with pytest.raises(LoginRefused):
            security.sessions.login("county", "Wrong-pass-1")
    with pytest.raises(LoginRefused, match="locked"):
        security.sessions.login("county", PASSWORD)
    security.audit.checkpoint()
    assert security.audit.verify().ok
    with security.store.transaction() as tx:
        tx.run("UPDATE audit SET detail = 'nothing happened' WHERE seq = 2")
    assert security.audit.verify().first_bad_seq == 2


def test_the_postgres_password_is_masked(postgres_server, tmp_path):
    settings = load_settings(lake=tmp_path / "lake", security_store=f"postgres:{postgres_server.replace('pg-Secret', 'x')}")
    from carbonlib.security import StoreError

    with pytest.raises(StoreError) as refused:
        Security.open(settings)
    assert "pg-Secret" not in str(refused.value) and "x-2364" not in str(refused.value)
    assert lake_settings(tmp_path / "lake").security_store is None


def test_a_postgres_restart_is_survived_by_a_long_running_server_and_a_cut_transaction_is_named(tmp_path):
    """PostgreSQL restarted under an open security store (a dashboard server's): the next login and the next change
    work on a new connection (before, every call failed with 'the connection is closed' until the server process was
    restarted); a transaction the restart cuts off is named, not taken as done; a stopped server names the fix."""
    import servers
    from carbonlib.security import StoreError

    with servers.postgres_server() as server:
        settings = load_settings(lake=tmp_path / "lake",
                                 security_store=f"postgres:{servers.create_database(server.dsn, 'sec_restart')}")
        security, _ = Security.init(settings)
        try:
            security.provision("county", "County", grants=[("manager", "D430121")], password=PASSWORD,
                               must_change=False)
            server.restart()
            assert security.sessions.login("county", PASSWORD).token
            security.provision("city", "City", grants=[("manager", "C4301")], password=PASSWORD, must_change=False)

            with pytest.raises(StoreError, match="went away in the middle of a transaction.*not confirmed"):
                with security.store.transaction() as tx:
                    tx.run("DELETE FROM meta WHERE key = 'schema_version'")
                    server.restart()
                    tx.one("SELECT count(*) FROM meta")
            with security.store.transaction() as tx:  # the cut transaction changed nothing
                assert tx.one("SELECT count(*) FROM meta WHERE key = 'schema_version'")[0] == 1

            server.stop()
            try:
                with pytest.raises(StoreError, match="cannot reach the security store.*Fix: start PostgreSQL"):
                    security.sessions.login("city", PASSWORD)
            finally:
                server.start()
            assert security.sessions.login("city", PASSWORD).token
        finally:
            security.close()
