"""The Sesam microservice example (examples/python/sesam_microservice.py) in front of the HubSpot
mock (examples/http/mock_crm), both on 127.0.0.1. Expected answers are computed here from the
contacts the mock lists, never taken from the service under test. Needs Flask and the mock's
binary (SINCEHASH_MOCK_CRM, set by ctest when it is built)."""
import datetime
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("flask", reason="the microservice needs Flask (Debian's python3-flask)")
MOCK_CRM = os.environ.get("SINCEHASH_MOCK_CRM")
if not MOCK_CRM or not os.access(MOCK_CRM, os.X_OK):
    pytest.skip("the HubSpot mock is not built (SINCEHASH_MOCK_CRM: examples/http/mock_crm needs cpp-httplib)",
                allow_module_level=True)
SERVICE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "sesam_microservice.py")


def millis(text):
    at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (at - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(milliseconds=1)


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Running:
    """The processes a test started, stopped (SIGTERM, then checked) at its end."""

    def __init__(self):
        self.procs = []

    def start(self, argv):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, text=True)
        self.procs.append(p)
        line = p.stdout.readline().strip()
        assert line.startswith("listening 127.0.0.1:"), f"{argv[0]} printed {line!r}"
        return "http://" + line.split(" ", 1)[1]

    def stop(self):
        for p in self.procs:
            p.terminate()
            try:
                assert p.wait(timeout=30) == 0, f"{p.args} did not stop cleanly"
            finally:
                p.stdout.close()


@pytest.fixture
def crm_and_service(tmp_path):
    running = Running()
    try:
        crm = running.start([MOCK_CRM])
        service = running.start([sys.executable, SERVICE, "--crm", crm, "--state", str(tmp_path / "state.db")])
        yield crm, service
    finally:
        running.stop()


def listed(crm):
    contacts, after = [], None
    while True:
        status, page = call("GET", f"{crm}/crm/v3/objects/contacts?limit=100" + (f"&after={after}" if after else ""))
        assert status == 200
        contacts += page["results"]
        after = page.get("paging", {}).get("next", {}).get("after")
        if after is None:
            return contacts


def seed(crm, count, tie):
    assert call("POST", f"{crm}/_mock/seed?count={count}&tie={tie}", {})[0] == 200


def put(crm, id_, properties):
    assert call("PUT", f"{crm}/_mock/contacts/{id_}", {"properties": properties})[0] == 204


def get_contacts(service, since=None):
    query = "" if since is None else "?" + urllib.parse.urlencode({"since": since})
    status, body = call("GET", f"{service}/get_contacts{query}")
    return status, body


def offset_of(entities):
    """What Sesam keeps: the largest _updated."""
    return max(entities, key=lambda e: millis(e["_updated"]))["_updated"]


def test_full_sync_then_only_watched_changes_and_ties(crm_and_service):
    crm, service = crm_and_service
    seed(crm, 6, 2)
    status, entities = get_contacts(service)
    assert status == 200
    contacts = {c["id"]: c for c in listed(crm)}
    assert sorted(e["_id"] for e in entities) == sorted(contacts)
    for e in entities:
        assert e["_updated"] == contacts[e["_id"]]["properties"]["lastmodifieddate"]
    # HubSpot writes dates with and without a fraction: both are present.
    assert any("." in e["_updated"] for e in entities) and any("." not in e["_updated"] for e in entities)
    offset = offset_of(entities)
    ties = [i for i, c in contacts.items() if millis(c["properties"]["lastmodifieddate"]) == millis(offset)]
    assert len(ties) == 2

    # The same offset again: its ties come back from HubSpot (GTE) and are not sent twice.
    assert get_contacts(service, offset) == (200, [])
    # A contact arriving at the offset's instant is sent; an unwatched change is not.
    put(crm, "100", {"email": "new@example.com", "lastmodifieddate": offset})
    later = "2024-03-01T12:00:00.250Z"
    put(crm, "1", {**contacts["1"]["properties"], "phone": "555", "lastmodifieddate": later})
    put(crm, "2", {**contacts["2"]["properties"], "email": "changed@example.com", "lastmodifieddate": later})
    status, changed = get_contacts(service, offset)
    assert status == 200
    assert sorted(e["_id"] for e in changed) == ["100", "2"]
    assert {e["_id"]: e["_updated"] for e in changed} == {"100": offset, "2": later}
    # Sesam stored them (its since moved to their newest): nothing is sent again.
    assert get_contacts(service, offset_of(changed)) == (200, [])


def test_what_sesam_did_not_store_is_sent_again(crm_and_service):
    crm, service = crm_and_service
    seed(crm, 4, 1)
    since = "2024-03-01T10:00:01Z"
    expected = sorted(c["id"] for c in listed(crm) if millis(c["properties"]["lastmodifieddate"]) >= millis(since))
    assert expected == ["2", "3", "4"]
    # Sesam comes back with the same since (it did not store the answer): the same answer again.
    for _ in range(2):
        status, entities = get_contacts(service, since)
        assert status == 200 and sorted(e["_id"] for e in entities) == expected


def test_since_with_or_without_a_fraction_and_with_any_offset(crm_and_service):
    crm, service = crm_and_service
    seed(crm, 8, 2)
    whole = "2024-03-01T10:00:01Z"  # between the seeded instants
    expected = sorted(c["id"] for c in listed(crm) if millis(c["properties"]["lastmodifieddate"]) >= millis(whole))
    assert expected == ["3", "4", "5", "6", "7", "8"]
    for since in (whole, "2024-03-01T11:00:01+01:00", "2024-03-01T10:00:01.000Z", "2024-03-01T10:00:01,000000Z"):
        status, entities = get_contacts(service, since)
        assert status == 200, since
        assert sorted(e["_id"] for e in entities) == expected, since
    # '+' not percent-encoded arrives as a space, and is read as the offset it was.
    status, entities = call("GET", f"{service}/get_contacts?since=2024-03-01T11:00:01+01:00")
    assert status == 200 and sorted(e["_id"] for e in entities) == expected


def test_bad_since_is_400_naming_it(crm_and_service):
    crm, service = crm_and_service
    seed(crm, 2, 1)
    for since in ("yesterday", "2024-13-01T00:00:00Z", "2024-03-01T10:00:00"):
        status, body = get_contacts(service, since)
        assert status == 400 and since in body["error"]


def test_paged_upstream_with_ties_across_pages_loses_nothing(crm_and_service):
    crm, service = crm_and_service
    seed(crm, 250, 7)
    contacts = listed(crm)
    since = next(c["properties"]["lastmodifieddate"] for c in contacts if c["id"] == "99")
    status, entities = get_contacts(service, since)
    assert status == 200
    ids = [e["_id"] for e in entities]
    assert len(ids) == len(set(ids))
    assert set(ids) == {c["id"] for c in contacts if millis(c["properties"]["lastmodifieddate"]) >= millis(since)}


def test_upstream_failure_is_502_never_a_partial_list(crm_and_service):
    crm, service = crm_and_service
    seed(crm, 250, 1)
    assert call("POST", f"{crm}/_mock/fail?status=503&count=1&skip=1", {})[0] == 204
    status, body = get_contacts(service)
    assert status == 502 and "503" in body["error"]
    status, entities = get_contacts(service)  # the failure is over: everything
    assert status == 200 and len(entities) == 250
