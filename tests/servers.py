"""Real servers on loopback for the tests and the benchmarks: Debian's PostgreSQL and moto's S3-compatible server."""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """A running PostgreSQL server of :func:`postgres_server`: its DSN, and ``stop``/``start``/``restart`` with
    ``pg_ctl`` (fast shutdown: open sessions are cut, as in a real restart)."""

    def __init__(self, bindir: str, folder: str, port: int, run_as: list[str], dsn: str):
        self.bindir, self.folder, self.port, self.run_as, self.dsn = bindir, folder, port, run_as, dsn

    def _pg_ctl(self, action: str, check: bool = True) -> None:
        # the server's output goes to its log file, never to our pipes (pg_ctl would wait for them to close)
        subprocess.run([*self.run_as, f"{self.bindir}/pg_ctl", "-D", os.path.join(self.folder, "data"), "-l",
                        os.path.join(self.folder, "log"), "-w", "-m", "fast", "-o",
                        f"-p {self.port} -h 127.0.0.1 -k {self.folder}", action], check=check, capture_output=True)

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        self._pg_ctl("stop")

    def restart(self) -> None:
        self._pg_ctl("restart")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server (Debian's) on a free loopback port, password-protected, that the caller can stop and
    restart.

    Started with ``initdb``/``pg_ctl`` in a temporary folder (as the ``postgres`` user when running
    as root, which PostgreSQL refuses to run as) and stopped at the end.
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed. Fix: apt-get install -y postgresql (make test does it).")
    bindir = os.path.dirname(found[-1])
    folder = tempfile.mkdtemp(prefix="carbon-pg-")
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    password = "pg-Secret-2364"
    pwfile = os.path.join(folder, "pw")
    with open(pwfile, "w") as handle:
        handle.write(password)
    if run_as:
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run([*run_as, f"{bindir}/initdb", "-D", os.path.join(folder, "data"), "-U", "carbon",
                    "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8"], check=True, capture_output=True)
    server = PostgresServer(bindir, folder, port, run_as,
                            f"dbname=postgres host=127.0.0.1 port={port} user=carbon password={password}")
    server.start()
    try:
        yield server
    finally:
        server._pg_ctl("stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server (Debian's) on a free loopback port, password-protected; yields its DSN
    (see :func:`postgres_server`)."""
    with postgres_server() as server:
        yield server.dsn


def create_database(dsn: str, name: str) -> str:
    """Create database ``name`` on the server of ``dsn`` (its ``dbname=postgres``); returns the new database's DSN."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return dsn.replace("dbname=postgres", f"dbname={name}")


@contextmanager
def object_store(*buckets: str) -> Iterator[tuple[object, dict[str, str]]]:
    """moto's S3-compatible server on a free loopback port with ``buckets``; yields (server, the AWS variables that
    point at it).  The caller puts the variables into the environment (``monkeypatch.setenv``)."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    variables = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "carbon-test",
                 "AWS_SECRET_ACCESS_KEY": "carbon-test-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=variables["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="carbon-test", aws_secret_access_key="carbon-test-secret")
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    try:
        yield server, variables
    finally:
        server.stop()


@contextmanager
def mosquitto(config: str) -> Iterator[int]:
    """Debian's Mosquitto broker with ``config`` (a ``mosquitto.conf`` without its listener line is not accepted);
    yields the port of its ``listener`` line once the broker answers, and stops it at the end."""
    import re
    import time

    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(binary):
        raise RuntimeError("Mosquitto is not installed. Fix: apt-get install -y mosquitto (make test does it).")
    port = int(re.search(r"^listener (\d+)", config, re.M).group(1))
    folder = tempfile.mkdtemp(prefix="carbon-mqtt-")
    path = os.path.join(folder, "mosquitto.conf")
    with open(path, "w") as handle:  # as root Mosquitto would switch to its own user, who cannot read our files
        handle.write(config + ("user root\n" if os.geteuid() == 0 else ""))
    log = open(os.path.join(folder, "log"), "w")
    broker = subprocess.Popen([binary, "-c", path], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if broker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {open(log.name).read()[-2000:]}") from None
                time.sleep(0.1)
        yield port
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            broker.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def smtp_server() -> Iterator[tuple[int, list]]:
    """An SMTP server (aiosmtpd) on a free loopback port; yields (port, messages received as email.message.Message)."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    received: list = []

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            mail = message_from_bytes(envelope.original_content, policy=policy.default)
            mail["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            received.append(mail)
            return "250 OK"

    controller = Controller(Keep(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, received
    finally:
        controller.stop()


@contextmanager
def webhook_server(answer: dict | None = None) -> Iterator[tuple[str, list]]:
    """An HTTP server on a free loopback port that keeps every JSON POST and answers ``answer`` (default the
    ``{"errcode": 0, "errmsg": "ok"}`` of WeCom/DingTalk robots); yields (base URL, [(path, body)])."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    posted: list = []
    reply = json.dumps(answer if answer is not None else {"errcode": 0, "errmsg": "ok"}).encode()

    class Robot(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posted.append((self.path, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Robot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", posted
    finally:
        server.shutdown()
        server.server_close()
