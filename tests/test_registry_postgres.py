"""The credit registry's store on a real PostgreSQL server (``CARBON_REGISTRY_STORE=postgres:…``): the same
operations and invariants as on SQLite, the database's CHECK constraints, and the schema-1 → 2 migration."""

from __future__ import annotations

import pytest

from carbonlib.registry import Registry, RegistryRefused
from carbonlib.registry import store as registry_store
from carbonlib.settings import load_settings


def _database(postgres_server: str, tmp_path, suffix: str) -> str:
    import psycopg

    name = f"carbon_reg_{suffix}_{tmp_path.name.replace('-', '_')[-30:]}".lower()
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.replace("dbname=postgres", f"dbname={name}")


def test_the_book_of_units_keeps_its_invariants_on_postgres(postgres_server, tmp_path):
    import psycopg

    settings = load_settings(lake=tmp_path / "lake",
                             registry_store=f"postgres:{_database(postgres_server, tmp_path, 'ops')}")
    with Registry.open(settings) as book:
        assert book.store.location.dialect == "postgres"
        for org in ("A", "B"):
            book.open_accounts(org)
        book.issue("P1", 2024, 1000, proponent="A", verification_ref="P1-V2024", buffer_share=0.1)
        asked = book.request_transfer("A", "B", "P1", 2024, 300, requested_by="alice")
        with pytest.raises(RegistryRefused, match="free to move"):
            book.retire("A", "P1", 2024, 700, beneficiary="A", purpose="voluntary")  # 300 of the 900 are reserved
        book.accept_transfer(asked["transfer_id"], "B")
        book.retire("B", "P1", 2024, 100, beneficiary="B", purpose="compliance", cap_year=2024)
        pledge = book.pledge("A", "P1", 2024, 50, pledgee="Bank")
        book.release(pledge["pledge_id"], "A")
        export = book.request_export("A", "P1", 2024, 40, destination="Verra VCS")
        book.confirm_export(export["export_id"], "A", destination_ref="VCS-1")
        row = book.reconcile().iloc[0]
        assert (row.issued, row.held, row.retired, row.buffer, row.exported) == (1000, 760, 100, 100, 40) and row.ok
        assert book.verify().ok
        with pytest.raises(psycopg.errors.CheckViolation), book.store.transaction() as tx:
            tx.run("UPDATE blocks SET state = 'lost' WHERE state = 'held'")  # the database refuses an unknown state
        assert book.reconcile().ok.all()


def test_a_schema_1_registry_on_postgres_is_migrated(postgres_server, tmp_path):
    import psycopg

    dsn = _database(postgres_server, tmp_path, "mig")
    old_states = "'held', 'pledged', 'retired', 'cancelled', 'buffer'"
    with psycopg.connect(dsn, autocommit=True) as db:
        registry_store._create_v1(lambda sql: db.execute(sql.replace(registry_store._in(registry_store.STATES),
                                                                     old_states)), "postgres")
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        db.execute("INSERT INTO accounts VALUES ('ACC-A', 'A', 'holding', 't', 'x')")
        db.execute("INSERT INTO batches VALUES ('P1-2024-B1', 'P1', 2024, 'V1', 1, 10, 10, 0, 't', 0)")
        db.execute("INSERT INTO blocks (project_id, vintage, batch_id, serial_start, serial_end, account_id, state) "
                   "VALUES ('P1', 2024, 'P1-2024-B1', 1, 10, 'ACC-A', 'held')")
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute("UPDATE blocks SET state = 'exported'")
    settings = load_settings(lake=tmp_path / "lake", registry_store=f"postgres:{dsn}")
    with Registry.open(settings) as book:
        assert book.blocks().state.tolist() == ["held"]
        with book.store.transaction() as tx:
            tx.run("UPDATE blocks SET state = 'pending_export'")
            assert tx.one("SELECT value FROM meta WHERE key = 'schema_version'")[0] == "2"
