#!/usr/bin/env python3
"""Runs the HTTP connector examples against each other on 127.0.0.1, on ports the system picks.

usage: test_http_examples.py PATH_TO_MOCK_CRM PATH_TO_SESAM_MICROSERVICE PATH_TO_CE_POLLER

The mock of HubSpot's contacts API is seeded through its /_mock controls; expected answers are
computed here from the contacts the mock lists, never taken from the service under test.
"""
import datetime
import http.server
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.parse
import urllib.request

MOCK_CRM = SESAM_MICROSERVICE = CE_POLLER = None
TIMEOUT = 10  # seconds, for any single request, start-up or shutdown


def millis(text):
    """Epoch milliseconds of an ISO 8601 date as HubSpot writes it (with or without a fraction)."""
    at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(at.timestamp() * 1000)


def request(method, url, body=None):
    """(status, decoded JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return status, (json.loads(raw) if raw else None)


class ServiceCase(unittest.TestCase):
    """Starts the mock CRM for each test and stops every process it started, whatever happened."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.crm = self.start([MOCK_CRM])

    def start(self, args):
        """Starts a server that prints `listening 127.0.0.1:PORT`; returns its base URL."""
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.stop, proc)
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        self.assertTrue(ready, f"{args[0]} printed nothing within {TIMEOUT} s")
        line = proc.stdout.readline().strip()
        self.assertRegex(line, r"^listening 127\.0\.0\.1:\d+$")
        return "http://" + line.split(" ", 1)[1]

    def stop(self, proc):
        proc.terminate()
        try:
            self.assertEqual(proc.wait(timeout=TIMEOUT), 0, f"{proc.args[0]} did not stop cleanly on SIGTERM")
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdout.close()

    def seed(self, count, tie):
        status, _ = request("POST", f"{self.crm}/_mock/seed?count={count}&tie={tie}", {})
        self.assertEqual(status, 200)

    def listed_contacts(self):
        """Every contact, read from the mock's list endpoint page by page."""
        contacts, after = [], None
        while True:
            url = f"{self.crm}/crm/v3/objects/contacts?limit=100" + (f"&after={after}" if after else "")
            status, page = request("GET", url)
            self.assertEqual(status, 200)
            contacts += page["results"]
            after = page.get("paging", {}).get("next", {}).get("after")
            if after is None:
                return contacts

    def put_contact(self, contact_id, properties):
        status, _ = request("PUT", f"{self.crm}/_mock/contacts/{contact_id}", {"properties": properties})
        self.assertEqual(status, 204)


class MockCrmTest(ServiceCase):
    def test_seed_file_contacts_are_served_with_hubspot_fields(self):
        path = os.path.join(self.tmp.name, "contacts.json")
        with open(path, "w") as f:
            json.dump([
                {"id": "7", "properties": {"email": "a@example.com", "lastmodifieddate": "2024-03-01T10:00:00Z"}},
                {"id": 12, "properties": {"email": "b@example.com", "lastmodifieddate": "2024-03-01T11:00:00.250+01:00"}},
            ], f)
        crm = self.start([MOCK_CRM, "--seed-file", path])
        status, page = request("GET", f"{crm}/crm/v3/objects/contacts?limit=1")
        self.assertEqual(status, 200)
        self.assertEqual(page["results"][0]["id"], "7")
        self.assertEqual(page["results"][0]["properties"]["hs_object_id"], "7")
        after = page["paging"]["next"]["after"]
        status, page = request("GET", f"{crm}/crm/v3/objects/contacts?limit=1&after={after}")
        self.assertEqual(status, 200)
        self.assertNotIn("paging", page)
        (second,) = page["results"]
        self.assertEqual(second["id"], "12")
        self.assertEqual(millis(second["updatedAt"]), millis("2024-03-01T10:00:00.250Z"))


class SesamMicroserviceTest(ServiceCase):
    def setUp(self):
        super().setUp()
        self.service = self.start([SESAM_MICROSERVICE, "--crm", self.crm])

    def get_contacts(self, since=None):
        query = "" if since is None else "?" + urllib.parse.urlencode({"since": since})
        return request("GET", f"{self.service}/get_contacts{query}")

    def expected_since(self, since_ms):
        return {c["id"] for c in self.listed_contacts() if millis(c["properties"]["lastmodifieddate"]) >= since_ms}

    def test_full_sync_returns_every_contact_with_updated(self):
        self.seed(5, 2)
        status, entities = self.get_contacts()
        self.assertEqual(status, 200)
        self.assertEqual(sorted(e["_id"] for e in entities), sorted(c["id"] for c in self.listed_contacts()))
        self.assertEqual(len(entities), 5)
        for e in entities:
            self.assertEqual(e["_id"], e["id"])
            self.assertEqual(e["_updated"], e["properties"]["lastmodifieddate"])
        # Both ways HubSpot writes a date are present, so the since tests below see both.
        self.assertTrue(any("." in e["_updated"] for e in entities))
        self.assertTrue(any("." not in e["_updated"] for e in entities))

    def test_since_the_offset_returns_its_ties_and_later_changes_only(self):
        self.seed(6, 2)
        _, entities = self.get_contacts()
        offset = max(entities, key=lambda e: millis(e["_updated"]))["_updated"]  # what Sesam keeps
        ties = {e["_id"] for e in entities if millis(e["_updated"]) == millis(offset)}
        self.assertEqual(len(ties), 2)
        self.put_contact("100", {"email": "late@example.com", "lastmodifieddate": "2024-03-02T08:00:00.001Z"})

        status, changed = self.get_contacts(offset)
        self.assertEqual(status, 200)
        ids = {e["_id"] for e in changed}
        self.assertEqual(ids, ties | {"100"})
        self.assertTrue(all(millis(e["_updated"]) >= millis(offset) for e in changed))

    def test_since_with_or_without_a_fraction_and_with_any_offset(self):
        self.seed(8, 2)
        whole = "2024-03-01T10:00:01Z"  # between the seeded instants
        self.assertEqual(self.expected_since(millis(whole)), {"3", "4", "5", "6", "7", "8"})
        for since in (whole, "2024-03-01T11:00:01+01:00", "2024-03-01T10:00:01.000Z", "2024-03-01T10:00:01,000000Z"):
            with self.subTest(since=since):
                status, changed = self.get_contacts(since)
                self.assertEqual(status, 200)
                self.assertEqual({e["_id"] for e in changed}, self.expected_since(millis(whole)))
        # A '+' sent without percent-encoding arrives as a space; it is still read as the offset.
        status, changed = request("GET", f"{self.service}/get_contacts?since=2024-03-01T11:00:01+01:00")
        self.assertEqual(status, 200)
        self.assertEqual({e["_id"] for e in changed}, self.expected_since(millis(whole)))
        # A since equal to a seeded instant with milliseconds includes the contacts at it.
        at = next(c["properties"]["lastmodifieddate"] for c in self.listed_contacts() if c["id"] == "3")
        self.assertIn(".", at)
        status, changed = self.get_contacts(at)
        self.assertEqual(status, 200)
        self.assertEqual({e["_id"] for e in changed}, self.expected_since(millis(at)))
        self.assertIn("3", {e["_id"] for e in changed})

    def test_bad_since_is_400_naming_it(self):
        self.seed(2, 1)
        for since in ("yesterday", "2024-13-01T00:00:00Z", "2024-03-01T10:00:00"):
            with self.subTest(since=since):
                status, body = self.get_contacts(since)
                self.assertEqual(status, 400)
                self.assertIn(since, body["error"])

    def test_paged_upstream_with_ties_across_pages_loses_nothing(self):
        # 250 contacts, 7 per instant: the service's pages of 100 split the ties of ids 99-105.
        self.seed(250, 7)
        status, entities = self.get_contacts()
        self.assertEqual(status, 200)
        self.assertEqual(sorted(e["_id"] for e in entities), sorted(str(i) for i in range(1, 251)))
        since = next(e["_updated"] for e in entities if e["_id"] == "99")
        status, changed = self.get_contacts(since)
        self.assertEqual(status, 200)
        ids = [e["_id"] for e in changed]
        self.assertEqual(len(ids), len(set(ids)), "a contact was returned twice")
        self.assertEqual(set(ids), self.expected_since(millis(since)))
        self.assertTrue({str(i) for i in range(99, 106)} <= set(ids))

    def test_upstream_failure_is_502_never_a_partial_list(self):
        self.seed(250, 1)
        status, _ = request("POST", f"{self.crm}/_mock/fail?status=503&count=1&skip=1", {})
        self.assertEqual(status, 204)
        status, body = self.get_contacts()  # the first page is answered, the second fails
        self.assertEqual(status, 502)
        self.assertEqual(body["upstream_status"], 503)
        status, entities = self.get_contacts()
        self.assertEqual(status, 200)
        self.assertEqual(len(entities), 250)


class FlakyCallback:
    """An events endpoint that answers 500 to its first POST and 200 afterwards."""

    def __init__(self):
        self.bodies = []  # every POSTed body, decoded, in order
        callback = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                callback.bodies.append(body)
                self.send_response(500 if len(callback.bodies) == 1 else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)


POLLER_CONFIG = {
    "configuration": {
        "event.helper.key": "hubspotPolling",
        "event.poller.refresh_interval": "15",
        "event.vendor.type": "polling",
        "event.notification.enabled": True,
        "event.poller.configuration": json.dumps({
            "contacts": {
                # Pages of 4: the second seeded tie (ids 4-6) straddles the first page boundary.
                "url": "/crm/v3/objects/contacts/search?since=${epoch:ms}&limit=4",
                "idField": "id",
                "datesConfiguration": {
                    "updatedDateField": "properties.lastmodifieddate",
                    "createdDateField": "properties.createdate",
                },
                "validationData": {"fields": ["properties.email", "properties.firstname", "properties.lastname"]},
            }
        }),
    }
}


class CloudElementsPollerTest(ServiceCase):
    def setUp(self):
        super().setUp()
        self.callback = FlakyCallback()
        self.addCleanup(self.callback.close)
        self.config = os.path.join(self.tmp.name, "instance.json")
        with open(self.config, "w") as f:
            json.dump(POLLER_CONFIG, f)
        self.state = os.path.join(self.tmp.name, "state.sqlite")

    def run_poller(self, polls):
        """Runs `polls` polls 50 ms apart; returns their lines."""
        args = [CE_POLLER, "--config", self.config, "--resource", "contacts", "--crm", self.crm,
                "--callback", self.callback.url, "--state", self.state, "--interval-ms", "50",
                "--polls", str(polls)]
        done = subprocess.run(args, stdout=subprocess.PIPE, text=True, timeout=TIMEOUT)
        self.assertEqual(done.returncode, 0)
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        self.assertEqual([line["poll"] for line in lines], list(range(1, polls + 1)))
        return lines

    def test_commits_only_after_the_callback_accepted_and_dispatches_watched_changes_only(self):
        self.seed(9, 3)
        contacts = {c["id"]: c for c in self.listed_contacts()}

        first, second, third = self.run_poller(3)
        self.assertEqual((first["dispatched"], first["committed"]), (9, False))  # the callback answered 500
        self.assertEqual((second["dispatched"], second["committed"]), (9, True))
        self.assertEqual((third["dispatched"], third["committed"]), (0, True))
        self.assertIsNone(first["since"])
        self.assertIsNone(second["since"], "a poll whose events were refused must not move the offset")
        newest = max(contacts.values(), key=lambda c: millis(c["properties"]["lastmodifieddate"]))
        self.assertEqual(third["since"], newest["properties"]["lastmodifieddate"])
        self.assertEqual(third["fetched"], 3, "the poll after the commit asks from the offset, inclusive")

        self.assertEqual(len(self.callback.bodies), 2)
        refused, accepted = (body["events"] for body in self.callback.bodies)
        self.assertEqual([e["event_id"] for e in refused], [e["event_id"] for e in accepted])
        self.assertEqual(sorted(e["id"] for e in accepted), sorted(contacts))
        for e in accepted:
            self.assertEqual(e["record"], contacts[e["id"]])
            self.assertEqual(e["updated"], contacts[e["id"]]["properties"]["lastmodifieddate"])

        watched = dict(contacts["2"]["properties"], firstname="Renamed", lastmodifieddate="2024-03-01T10:00:09.000Z")
        unwatched = dict(contacts["7"]["properties"], phone="+47 555 0100", lastmodifieddate="2024-03-01T10:00:09Z")
        self.put_contact("2", watched)
        self.put_contact("7", unwatched)

        (fourth,) = self.run_poller(1)
        self.assertEqual(fourth["fetched"], 4, "the offset's other ties (8, 9) and both changed contacts")
        self.assertEqual((fourth["dispatched"], fourth["committed"]), (1, True))
        (event,) = self.callback.bodies[-1]["events"]
        self.assertEqual((event["type"], event["id"]), ("updated", "2"))
        self.assertEqual(event["record"]["properties"]["firstname"], "Renamed")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    MOCK_CRM, SESAM_MICROSERVICE, CE_POLLER = (os.path.abspath(p) for p in sys.argv[1:4])
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
