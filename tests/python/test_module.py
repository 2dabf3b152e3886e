"""What does not depend on the back end: configuration errors, arguments, the clock, the lease
across processes, the GIL."""
import datetime
import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import sincehash
from conftest import ndjson, poller, rec

T1 = "2024-03-01T10:00:00.000Z"


def test_config_errors_name_every_problem_by_json_pointer(sqlite_state):
    config = {"configuration": {"event.poller.configuration": json.dumps(
        {"contacts": {"bogus": 1, "datesConfiguration": {"updatedDateField": "m", "updatedDateFormat": "yyyy"},
                      "sincehash": {"ttl": "forever", "what": True}}})}}
    with pytest.raises(sincehash.ConfigError) as caught:
        sincehash.Detector(config, sqlite_state, "contacts")
    assert isinstance(caught.value, ValueError)
    errors = caught.value.errors
    where = [w for w, _ in errors]
    base = "/configuration/event.poller.configuration/contacts"
    # Unknown keys first, then in document order; every one named.
    assert where[:2] == [base + "/bogus", base + "/sincehash/what"]
    assert base + "/idField" in where and base + "/sincehash/ttl" in where
    assert base + "/datesConfiguration/updatedDateFormat" in where
    assert all(isinstance(m, str) and m for _, m in errors)
    assert "bogus" in str(caught.value)


def test_config_from_a_path_a_text_or_a_dict(sqlite_state, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(poller()))
    for config in (str(path), path, json.dumps(poller()), poller()):
        with sincehash.Detector(config, sqlite_state, "contacts") as d:
            assert d.since() is None
    with pytest.raises(sincehash.ConfigError) as caught:
        sincehash.Detector(poller(), sqlite_state, "deals")
    assert caught.value.errors[0][0] == "/deals" and "contacts" in caught.value.errors[0][1]
    with pytest.raises(sincehash.ConfigError) as caught:
        sincehash.Detector('{"contacts": ', sqlite_state, "contacts")
    assert caught.value.errors
    with pytest.raises(FileNotFoundError):
        sincehash.Detector(str(tmp_path / "missing.json"), sqlite_state, "contacts")
    with pytest.raises(TypeError):
        sincehash.Detector(42, sqlite_state, "contacts")


def test_bad_state_and_clock_arguments(tmp_path):
    with pytest.raises(ValueError, match="state"):
        sincehash.Detector(poller(), str(tmp_path), "contacts").process([])
    with pytest.raises(ValueError, match="state"):
        sincehash.Detector(poller(), "nosuch://x", "contacts").process([])
    notstate = tmp_path / "other.db"
    notstate.write_text("not a state file, but not empty either")
    with pytest.raises(ValueError):
        sincehash.Detector(poller(), str(notstate), "contacts").process([])
    with pytest.raises(ValueError, match="now"):
        sincehash.Detector(poller(), str(tmp_path / "s.db"), "contacts", now="tomorrow")
    with pytest.raises(ValueError, match="time zone"):
        sincehash.Detector(poller(), str(tmp_path / "s.db"), "contacts", now=datetime.datetime(2024, 1, 1))
    aware = datetime.datetime(2024, 3, 2, 1, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    with sincehash.Detector(poller(rescan="P1D"), str(tmp_path / "s.db"), "contacts", now=aware) as d:
        d.commit(d.rescan([rec("1", T1)]))
        assert d.status()["rescan"]["last"] == "2024-03-02T00:00:00.000Z"


HOLD = textwrap.dedent("""
    import sys, time, sincehash
    d = sincehash.Detector({"contacts": {"idField": "id"}}, sys.argv[1], "contacts")
    d.process([])
    print("held", flush=True)
    sys.stdin.read()
""")


def test_busy_when_another_process_holds_the_partition(sqlite_state):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.Popen([sys.executable, "-c", HOLD, sqlite_state], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env=env, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        d = sincehash.Detector(poller(), sqlite_state, "contacts")
        with pytest.raises(sincehash.BusyError, match=f"pid={p.pid}"):
            d.process([rec("1", T1)])
        started = time.monotonic()
        with pytest.raises(sincehash.BusyError):
            sincehash.Detector(poller(), sqlite_state, "contacts", wait=0.5).process([])
        assert time.monotonic() - started >= 0.5
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert [e["id"] for e in d.process([rec("1", T1)]).events] == ["1"]
    d.close()


TRY = textwrap.dedent("""
    import sys, sincehash
    try:
        sincehash.Detector({"contacts": {"idField": "id"}}, sys.argv[1], "contacts").process([])
        print("free")
    except sincehash.BusyError:
        print("busy")
""")


def test_a_forked_child_cannot_use_its_parents_detector_nor_release_its_lease(sqlite_state):
    d = sincehash.Detector(poller(), sqlite_state, "contacts")
    d.commit(d.process([rec("1", T1)]))
    pid = os.fork()
    if pid == 0:  # the child reports through its exit code and never returns into pytest
        signal.alarm(30)  # a child that hangs is killed, and fails the test
        code = 0
        try:
            try:
                d.process([rec("2", T1)])
                code = 1
            except RuntimeError as e:
                code = 0 if "forked" in str(e) else 2
            try:
                d.since()
                code = code or 3
            except RuntimeError:
                pass
            d.close()
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    # The lease is still the parent's: another process is refused, and the parent goes on.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    other = subprocess.run([sys.executable, "-c", TRY, sqlite_state], env=env, capture_output=True, text=True,
                           timeout=60)
    assert other.stdout.strip() == "busy", other.stderr
    b = d.process([rec("2", T1)])
    d.commit(b)
    assert [e["id"] for e in b.events] == ["2"]
    d.close()


def test_the_gil_is_released_while_a_batch_is_processed(sqlite_state):
    records = "".join(rec(str(i), T1) + "\n" for i in range(200000)).encode()
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    with sincehash.Detector(poller(), sqlite_state, "contacts") as d:
        t = threading.Thread(target=tick)
        t.start()
        started = time.monotonic()
        b = d.process(records)
        during = [x for x in ticks if x >= started]
        ended = time.monotonic()
        done.set()
        t.join()
    assert len(b.events) == 200000
    # The other thread kept running while the batch was read and classified.
    assert ended - started > 0.05 and len(during) > 10


def test_write_ndjson_to_a_descriptor_or_a_file_object_writes_what_ndjson_gives(sqlite_state, tmp_path):
    # One record spans lines (written compacted), one has a multi-byte character.
    records = ('[{"id": "1", "m": "%s",\n "a": "\u00e9"}, %s]' % (T1, rec("2", T1))).encode()
    with sincehash.Detector(poller(), sqlite_state, "contacts") as d:
        b = d.process(records)
        text = b.ndjson()
        assert len(text.splitlines()) == len(b) == 2 and "\u00e9" in text.decode()
        path = tmp_path / "events.ndjson"
        with open(path, "wb") as f:  # what the file object holds is written first
            f.write(b"before\n")
            b.write_ndjson(f)
            f.write(b"after\n")
        assert path.read_bytes() == b"before\n" + text + b"after\n"
        with open(path, "w", encoding="utf-8") as f:
            f.write("before\n")
            b.write_ndjson(f)
        assert path.read_bytes() == b"before\n" + text
        binary, textual = io.BytesIO(), io.StringIO()
        b.write_ndjson(binary)
        b.write_ndjson(textual)
        assert binary.getvalue() == text and textual.getvalue() == text.decode()


def test_write_ndjson_failures_raise_and_the_batch_stays_uncommitted(sqlite_state):
    with sincehash.Detector(poller(), sqlite_state, "contacts") as d:
        b = d.process(ndjson(rec("1", T1)))
        with open("/dev/full", "wb") as full:
            with pytest.raises(OSError) as failed:
                b.write_ndjson(full)
            assert failed.value.errno == errno.ENOSPC
        read, write = os.pipe()
        os.close(read)
        with os.fdopen(write, "wb") as broken:
            with pytest.raises(BrokenPipeError):
                b.write_ndjson(broken)
        with pytest.raises(ValueError):
            closed = io.BytesIO()
            closed.close()
            b.write_ndjson(closed)
        assert not b.committed and d.since() is None
        assert [e["id"] for e in d.process(ndjson(rec("1", T1))).events] == ["1"]
