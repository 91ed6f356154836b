"""Tests of the idle DuckDB instances a closed lake leaves for the next open (carbonlib.lake.connection._IDLE).

Opening a lake used to load the ducklake and catalog extensions into a new DuckDB instance every time; a closed
lake now detaches its catalog and keeps the instance.  These tests check that nothing of one lake's session
reaches the next: not its options (read-only, pinned snapshot), not its instance settings (memory limit), not
a transaction left open, not the file cache of what it read, and that a reused instance sees what other
processes committed meanwhile.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap

import duckdb
import pandas as pd
import pytest

from carbonlib.lake import Lake, LakeError
from carbonlib.lake import connection
from carbonlib.settings import load_settings


def _idle(settings) -> list:
    return connection._IDLE.get(connection._instance_key(settings), [])


@pytest.fixture(autouse=True)
def _no_idle_instances():
    """Each test starts and ends without kept instances (other tests' instances would blur the counts)."""
    connection._IDLE.clear()
    yield
    connection._IDLE.clear()


def test_a_closed_lake_leaves_its_instance_and_the_next_open_takes_it(empty_lake):
    with Lake.open(empty_lake, read_only=True) as lake:
        first = lake._con
    assert _idle(empty_lake) == [first]
    with Lake.open(empty_lake) as lake:
        assert lake._con is first
        assert _idle(empty_lake) == []
        assert lake.schema_version > 0


def test_a_reused_instance_sees_what_another_process_committed(empty_lake):
    with Lake.open(empty_lake) as lake:
        before = lake.snapshot_id()
    assert _idle(empty_lake)
    script = textwrap.dedent(f"""
        from carbonlib.lake import Lake
        from carbonlib.settings import load_settings
        with Lake.open(load_settings(lake={str(empty_lake.lake)!r})) as lake:
            lake.set_meta("written_elsewhere", "yes")
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    with Lake.open(empty_lake, read_only=True) as lake:
        assert lake.snapshot_id() > before
        assert lake.meta("written_elsewhere") == "yes"


def test_read_only_and_pinned_snapshots_do_not_reach_the_next_open(empty_lake):
    with Lake.open(empty_lake) as lake:
        lake.set_meta("step", "1")
        pinned = lake.snapshot_id()
        lake.set_meta("step", "2")
    with Lake.open(empty_lake, snapshot=pinned) as lake:
        assert lake.meta("step") == "1"
        with pytest.raises(LakeError, match="read-only"):
            lake.set_meta("step", "x")
    with Lake.open(empty_lake) as lake:  # the same instance, attached writable at the latest snapshot
        assert lake.meta("step") == "2"
        lake.set_meta("step", "3")
        assert lake.meta("step") == "3"


def test_instances_are_kept_apart_by_their_settings(empty_lake):
    limited = load_settings(lake=empty_lake.lake, memory_limit="1GiB")

    def limit(settings) -> str:
        with Lake.open(settings, read_only=True) as lake:
            return lake._con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    default = duckdb.connect().execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert limit(limited) in ("1.0 GiB", "1 GiB") != default
    assert limit(empty_lake) == default  # not the other lake's limit
    assert len(_idle(limited)) == 1 and len(_idle(empty_lake)) == 1


def test_an_instance_left_in_a_transaction_is_closed_not_kept(empty_lake):
    lake = Lake.open(empty_lake)
    lake._con.execute("BEGIN TRANSACTION")
    lake.close()
    assert _idle(empty_lake) == []
    with Lake.open(empty_lake) as lake:
        lake.set_meta("after", "ok")
        assert lake.meta("after") == "ok"


def test_at_most_the_idle_limit_is_kept(empty_lake):
    lakes = [Lake.open(empty_lake, read_only=True) for _ in range(connection.IDLE_INSTANCES + 2)]
    for lake in lakes:
        lake.close()
    assert len(_idle(empty_lake)) == connection.IDLE_INSTANCES


def test_an_idle_instance_keeps_no_file_cache(empty_lake):
    with Lake.open(empty_lake) as lake:
        days = pd.date_range("2024-01-01", periods=200).date
        lake.append("carbon_price", pd.DataFrame({"market": "CEA", "day": days, "close_cny": 90.0, "volume_t": 1e4}))
    with Lake.open(empty_lake, read_only=True) as lake:
        assert len(lake.read("carbon_price")) == 200
        cached = lake._con.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
                                   "WHERE tag = 'EXTERNAL_FILE_CACHE'").fetchall()[0][0]
        assert cached > 0  # the positive control: reading the Parquet file filled the cache
    (idle,) = _idle(empty_lake)
    left = idle.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
                        "WHERE tag = 'EXTERNAL_FILE_CACHE'").fetchall()[0][0]
    assert left == 0
    assert {row[0] for row in idle.execute("SELECT database_name FROM duckdb_databases()").fetchall()} == {
        "memory", "system", "temp"}


def _open_in_child(lake_folder: str, queue) -> None:
    with Lake.open(load_settings(lake=lake_folder), read_only=True) as lake:
        queue.put(lake.meta("schema_version"))


def test_a_forked_child_does_not_take_the_parents_instances(empty_lake):
    with Lake.open(empty_lake, read_only=True) as lake:
        expected = lake.meta("schema_version")
    assert _idle(empty_lake)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_open_in_child, args=(str(empty_lake.lake), queue))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == expected
    assert connection._instance_key(empty_lake)[0] != child.pid
