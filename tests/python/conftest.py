"""Fixtures of the Python module's tests: a state on every back end the module has — SQLite in a
temporary directory, and Redis and PostgreSQL servers started from the Debian packages on
127.0.0.1 (tests/cli/servers.py). A back end whose server program is not installed is skipped,
saying which package it needs."""
import json
import os
import subprocess
import sys
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cli"))
import servers  # noqa: E402

import sincehash  # noqa: E402

BACKENDS = ("sqlite", "redis", "postgres")
_servers = {}


def _server(kind):
    """The session's server of `kind`, started on first use; skips the test when it cannot run."""
    if kind not in _servers:
        try:
            _servers[kind] = servers.redis_server() if kind == "redis" else servers.postgres_server()
        except RuntimeError as e:
            _servers[kind] = e
    s = _servers[kind]
    if isinstance(s, Exception):
        pytest.skip(f"{kind}: {s}")
    return s


def pytest_sessionfinish(session, exitstatus):
    for s in _servers.values():
        if not isinstance(s, Exception):
            s.stop()


def _redis_flush(port):
    """Empties the Redis server (FLUSHALL), so that each test starts from no state."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
        assert c.recv(64).startswith(b"+OK")


def _postgres_database(server):
    """A new, empty database on the PostgreSQL server; its URI."""
    name = "t" + uuid.uuid4().hex[:12]
    psql = servers.find_program("psql", "postgresql-client")
    subprocess.run([psql, "-h", "127.0.0.1", "-p", str(server.port), "-U", "sincehash", "-d", "postgres",
                    "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=60)
    return server.uri(name)


def _unsupported(uri):
    """True when this build of the module lacks the back end of `uri`."""
    try:
        sincehash.purge(uri)
    except ValueError as e:
        return "unsupported" in str(e) or "not built" in str(e) or "this build" in str(e)
    return False


@pytest.fixture(params=BACKENDS)
def state(request, tmp_path):
    """A state URI holding nothing, on each back end."""
    kind = request.param
    if kind == "sqlite":
        return str(tmp_path / "state.db")
    server = _server(kind)
    if kind == "redis":
        _redis_flush(server.port)
        uri = server.uri()
    else:
        uri = _postgres_database(server)
    if _unsupported(uri):
        pytest.skip(f"this build of the module has no {kind} back end")
    return uri


@pytest.fixture
def sqlite_state(tmp_path):
    return str(tmp_path / "state.db")


def poller(**extra):
    """A poller configuration of resource 'contacts': id 'id', updated date 'm' (ISO 8601 with
    milliseconds), created date 'c', watched fields 'a' and 'b'; `extra` goes under "sincehash"."""
    body = {"idField": "id",
            "datesConfiguration": {"updatedDateField": "m", "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
                                   "createdDateField": "c", "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ"},
            "validationData": {"fields": ["a", "b"]},
            "url": "/contacts?since=${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}"}
    if extra:
        body["sincehash"] = extra
    return {"contacts": body}


def rec(id_, m, a="x", b="y", c=None, other="o"):
    """One record as its JSON text; created (`c`) defaults to the updated date `m`."""
    return json.dumps({"id": id_, "a": a, "b": b, "m": m, "c": m if c is None else c, "other": other},
                      separators=(",", ":"))


def ndjson(*records):
    return ("\n".join(records) + "\n").encode()
