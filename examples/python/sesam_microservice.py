#!/usr/bin/env python3
"""A Sesam microservice with continuation support in front of HubSpot's contacts API, built on the
sincehash module: the Python service of Sesam's "Microservices - Continuation support" tutorial,
made correct.

    GET /get_contacts               every contact (a full sync), every page of the list endpoint
    GET /get_contacts?since=VALUE   the contacts modified at or after VALUE whose watched
                                    properties changed, every page of the search endpoint

Answers a JSON array of HubSpot contacts, each with "_id" (its id) and "_updated" (its
properties.lastmodifieddate as HubSpot wrote it); Sesam keeps the largest "_updated" as the
pipe's offset and sends it back as `since` on the next run.

Where this differs from the tutorial's service, and why:
  - `since` is read as any ISO 8601 date with an offset, with or without a fraction of a second
    (HubSpot writes a whole second without one, which made strptime("%Y-%m-%dT%H:%M:%S.%fZ")
    fail); a `since` that is not such a date answers 400 naming it.
  - The search uses GTE, not GT: contacts that share the offset's millisecond but arrived after
    the previous run are not lost. Those already sent come back and sincehash drops them.
  - Only changes of the watched properties are sent (WATCHED, default email, firstname,
    lastname): a contact whose other properties changed is not sent again.
  - What was sent is committed to the state only once Sesam acknowledged it by coming back with a
    `since` at or after the newest "_updated" it was sent; a run Sesam did not store is sent
    again (at least once, nothing lost).
  - Every page is fetched, and an upstream failure answers 502 naming the upstream status: never
    a partial list that Sesam would take as complete.

usage: sesam_microservice.py --crm http://127.0.0.1:PORT [--state FILE] [--port N]
Prints `listening 127.0.0.1:PORT` when ready; stops on SIGINT or SIGTERM.
"""
import argparse
import datetime
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request

from flask import Flask, Response, request
from werkzeug.serving import make_server

import sincehash

logger = logging.getLogger("hubspot")
PAGE = 100
SINCE_FIELD = "lastmodifieddate"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class UpstreamFailure(Exception):
    """HubSpot could not be read: answered 502."""


def parse_since(text):
    """`since` as an aware datetime; None when it is not an ISO 8601 date with an offset. A query
    string decodes '+' to a space, so "+01:00" sent without percent-encoding arrives as " 01:00"."""
    for candidate in (text, text[:19] + text[19:].replace(" ", "+", 1)):
        try:
            at = datetime.datetime.fromisoformat(candidate.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            continue
        if at.tzinfo is not None and len(candidate) >= 20 and candidate[10] in "Tt ":
            return at
    return None


def millis(at):
    """Epoch milliseconds of an aware datetime, rounded down."""
    return (at - EPOCH) // datetime.timedelta(milliseconds=1)


class Service:
    def __init__(self, crm, state, watched):
        self.crm = crm.rstrip("/")
        config = {"contacts": {
            "idField": "id",
            "datesConfiguration": {"updatedDateField": "properties." + SINCE_FIELD},
            "validationData": {"fields": ["properties." + w for w in watched]},
        }}
        self.detector = sincehash.Detector(config, state, "contacts")
        self.pending = None  # (batch, the newest "_updated" sent) until Sesam acknowledges it

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.crm + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.read()
        except urllib.error.HTTPError as e:
            raise UpstreamFailure(f"HubSpot answered {e.code} to {method} {path}: "
                                  f"{e.read().decode(errors='replace')[:500]}")
        except OSError as e:
            raise UpstreamFailure(f"HubSpot could not be reached ({method} {path}): {e}")

    def fetch(self, since_ms):
        """Every page of the contacts (modified at or after `since_ms`), each page's bytes."""
        pages, after = [], None
        while True:
            if since_ms is None:
                page = self.call("GET", f"/crm/v3/objects/contacts?limit={PAGE}" + (f"&after={after}" if after else ""))
            else:
                body = {"filterGroups": [{"filters": [{"propertyName": SINCE_FIELD, "operator": "GTE",
                                                       "value": str(since_ms)}]}],
                        "sorts": [{"propertyName": SINCE_FIELD, "direction": "ASCENDING"}], "limit": PAGE}
                if after:
                    body["after"] = after
                page = self.call("POST", "/crm/v3/objects/contacts/search", body)
            pages.append(page)
            after = json.loads(page).get("paging", {}).get("next", {}).get("after")
            if after is None:
                return pages

    def acknowledge(self, since):
        """Commits what was sent last when Sesam's `since` shows it stored it; else drops it."""
        if self.pending is None:
            return
        batch, newest = self.pending
        self.pending = None
        if since is not None and since >= newest:
            self.detector.commit(batch)

    def contacts(self, since):
        self.acknowledge(since)
        pages = self.fetch(None if since is None else millis(since))
        records = [json.dumps(c) for page in pages for c in json.loads(page)["results"]]
        batch = self.detector.process(records)
        for r in batch.rejects:
            logger.warning("contact at %d not sent: %s", r["line"], r["reason"])
        # A full sync sends every contact; an incremental one only the changed ones.
        sent = records if since is None else [e["record"] for e in batch.events]
        entities = []
        for text in sent:
            entity = json.loads(text)
            entity["_id"] = str(entity["id"])
            entity["_updated"] = entity["properties"][SINCE_FIELD]
            entities.append(entity)
        if entities:
            newest = max(parse_since(e["_updated"]) for e in entities)
            self.pending = (batch, newest)
        else:
            self.detector.commit(batch)  # nothing to deliver: the newer dates can be stored now
        return entities


def create_app(service):
    app = Flask(__name__)

    @app.route("/get_contacts", methods=["GET", "POST"])
    def get_contacts():
        text = request.args.get("since")
        since = None
        if text:
            since = parse_since(text)
            if since is None:
                return error(400, f"since {text!r} is not an ISO 8601 date with an offset")
        try:
            return Response(json.dumps(service.contacts(since)), mimetype="application/json")
        except UpstreamFailure as e:
            logger.error("%s", e)
            return error(502, str(e))

    return app


def error(status, message):
    return Response(json.dumps({"error": message}), status=status, mimetype="application/json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crm", required=True, help="HubSpot's API base, e.g. http://127.0.0.1:8080")
    parser.add_argument("--state", default=os.environ.get("SINCEHASH_STATE", "sesam_microservice.db"),
                        help="the sincehash state (a file or a state URI)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("port", "0")), help="0: a free port")
    parser.add_argument("--watched", default=os.environ.get("WATCHED", "email,firstname,lastname"),
                        help="the properties whose change is sent, comma-separated")
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s - %(name)s - %(levelname)s - %(message)s", level=logging.INFO)
    service = Service(args.crm, args.state, [w.strip() for w in args.watched.split(",") if w.strip()])
    server = make_server("127.0.0.1", args.port, create_app(service))  # one request at a time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening 127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        service.detector.close()


if __name__ == "__main__":
    main()
