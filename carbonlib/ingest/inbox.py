"""An inbox folder that loggers or an FTP server drop files into: each settled file is ingested once.

``watch(folder, ingest)`` watches the folder with watchdog (inotify on Linux) and, on every change
and at least every ``settle_s`` seconds, looks for files that have *settled* (size and modification
time unchanged for ``settle_s``: an FTP upload or a logger still writing is left alone).  Each
settled file is handed to ``ingest(path)``; afterwards it is moved to ``done/`` or, when ingestion
refused it, to ``failed/`` with ``<name>.error.txt`` holding the message (what and where, and the
fix).  A file is never ingested twice by the inbox, and re-ingesting a file from ``done/`` by hand
adds nothing anyway (the writer skips rows already in the lake).  Hidden files, ``*.part``/``*.tmp``
uploads and ``*.yaml`` (a mapping kept next to the data) are ignored.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DONE, FAILED = "done", "failed"
_IGNORED_SUFFIXES = (".part", ".tmp", ".yaml", ".yml", ".error.txt")


@dataclass(frozen=True)
class Outcome:
    """One inbox file handled: where it went and what ingestion said (its summary, or the error message)."""

    path: Path
    moved_to: Path
    result: object | None
    error: str | None


def _candidates(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(_IGNORED_SUFFIXES))


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name`` with a counter when a file of that name was handled before."""
    target, n = folder / name, 1
    while target.exists():
        target, n = folder / f"{Path(name).stem}.{n}{Path(name).suffix}", n + 1
    return target


class Inbox:
    """The files of ``folder`` waiting to be ingested, and what happens to each (see the module doc)."""

    def __init__(self, folder: str | Path, ingest: Callable[[Path], object], settle_s: float = 2.0):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"inbox {self.folder} is not a folder; create it (and point the loggers or the FTP "
                             "server at it)")
        self.ingest, self.settle_s = ingest, settle_s
        self._seen: dict[Path, tuple[int, float, float]] = {}  # path -> (size, mtime, first seen unchanged at)

    def settled(self, now: float | None = None) -> list[Path]:
        """Files whose size and modification time have not changed for ``settle_s`` seconds."""
        now = time.monotonic() if now is None else now
        ready, current = [], {}
        for path in _candidates(self.folder):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            size_mtime = (stat.st_size, stat.st_mtime)
            before = self._seen.get(path)
            since = before[2] if before and before[:2] == size_mtime else now
            current[path] = (*size_mtime, since)
            if now - since >= self.settle_s and time.time() - stat.st_mtime >= self.settle_s:
                ready.append(path)
        self._seen = current
        return ready

    def process(self, now: float | None = None) -> list[Outcome]:
        """Ingest every settled file and move it to ``done/`` or ``failed/``."""
        outcomes = []
        for path in self.settled(now):
            try:
                result, error = self.ingest(path), None
            except Exception as refused:  # noqa: BLE001 - any refusal is reported next to the file, the inbox goes on
                result, error = None, f"{type(refused).__name__}: {refused}"
            target_folder = self.folder / (FAILED if error else DONE)
            target_folder.mkdir(exist_ok=True)
            moved = _free_name(target_folder, path.name)
            shutil.move(str(path), moved)
            if error:
                moved.with_name(moved.name + ".error.txt").write_text(error + "\n", encoding="utf-8")
            self._seen.pop(path, None)
            outcomes.append(Outcome(path, moved, result, error))
        return outcomes


def watch(folder: str | Path, ingest: Callable[[Path], object], *, settle_s: float = 2.0,
          stop: threading.Event | None = None, on_outcome: Callable[[Outcome], None] | None = None) -> None:
    """Ingest the files dropped into ``folder`` until ``stop`` is set (or the process is stopped)."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    inbox = Inbox(folder, ingest, settle_s)
    stop = stop or threading.Event()
    changed = threading.Event()

    class _Wake(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            changed.set()

    observer = Observer()
    observer.schedule(_Wake(), str(inbox.folder), recursive=False)
    observer.start()
    try:
        while not stop.is_set():
            for outcome in inbox.process():
                if on_outcome:
                    on_outcome(outcome)
            changed.wait(timeout=max(settle_s / 2, 0.1))
            changed.clear()
    finally:
        observer.stop()
        observer.join(timeout=5)
