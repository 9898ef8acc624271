"""A mock Genesys Cloud org for `convlake pull`'s tests: the OAuth login and the analytics
conversation detail jobs, answering as Genesys does, with scripted trouble.

Usage: genesys_mock.py SCENARIO_JSON. Prints {"port": N} on its first line once it listens on
127.0.0.1. The scenario (all keys optional but the credentials):

  client_id, client_secret     the one OAuth client it accepts (HTTP Basic on /oauth/token)
  conversations                an NDJSON file of conversations the org holds
  availability                 its dataAvailabilityDate (ISO-8601)
  job_states                   states a job shows before FULFILLED, e.g. ["QUEUED", "PENDING"]
  throttle_every               every Nth API request gets a 429 with Retry-After: 1
  revoke_after                 after N API requests the token is revoked (401 until a new login)
  fail_interval                a job whose interval starts here ends FAILED
  expire_first                 the first job ends EXPIRED
  page_delay                   seconds each results page takes
  log                          a file each request is appended to, one JSON object a line
  names                        a CSV `kind,id,name` of the org's directory (users, queues,
                               wrap-up codes, flows, divisions), listed over pages of the
                               pageSize asked (users by nextUri, the others by pageCount)
  deleted_users                ids of users listed in state "deleted"
  removed                      ids no listing shows any more (a deleted queue)
  forbidden                    directory kinds answered 403 (the client lacks the permission)
  validate                     false skips the SDK check of answers (benchmarks: the SDK's
                               deserialization of a 1,000-conversation page takes seconds)

Every body it serves is checked against the official SDK's model of that answer
(PureCloudPlatformClientV2): deserialized, serialized back, the same keys, and no value the
SDK calls `outdated_sdk_version`; a body that fails is a 500 with the reason, so a test sees
it. Control: POST /_mock/state {"conversations": FILE, "availability": ISO, …} swaps the org's
data (any other scenario key too); GET /_mock/window?interval=A/B gives, as NDJSON, the conversations a job of that
interval returns (the freshest copies).
"""

import base64
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import PureCloudPlatformClientV2 as gc

SDK = gc.ApiClient()
LOCK = threading.Lock()
STATE = {"requests": 0, "tokens": set(), "jobs": {}, "jobs_made": 0}


def ms(text):
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def load(path):
    if not path:
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def keys(value):
    """The key paths of a JSON value (lists merged), for comparing shapes."""
    out = set()
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            out |= {k + "." + p for p in keys(v)}
    elif isinstance(value, list):
        for v in value:
            out |= keys(v)
    return out


def outdated(value):
    if isinstance(value, dict):
        return any(outdated(v) for v in value.values())
    if isinstance(value, list):
        return any(outdated(v) for v in value)
    return value == "outdated_sdk_version"


def check(body, model):
    obj = SDK._ApiClient__deserialize(body, model)
    back = SDK.sanitize_for_serialization(obj)
    if outdated(back):
        raise ValueError(f"{model}: a value the SDK does not know (outdated_sdk_version)")
    lost = keys(body) - keys(back)
    if lost:
        raise ValueError(f"{model}: keys the SDK's model does not have: {sorted(lost)[:10]}")


def window(start, end, ids=None):
    """What a detail job of [start, end) returns, sorted by start: as Genesys documents it,
    the conversations "that both started on a day touched by the interval AND either started,
    ended, or any activity during the interval" (those started before the interval's first
    UTC day are not searched); with ids, only those."""
    first_day = start - start % 86_400_000
    out = []
    for c in SCENARIO["_conversations"]:
        s = ms(c["conversationStart"])
        e = ms(c["conversationEnd"]) if c.get("conversationEnd") else None
        if ids is not None and c["conversationId"] not in ids:
            continue
        if first_day <= s < end and (e is None or e >= start):
            out.append(c)
    out.sort(key=lambda c: (c["conversationStart"], c["conversationId"]))
    return out


LISTINGS = {
    "/api/v2/users": ("user", "UserEntityListing"),
    "/api/v2/routing/queues": ("queue", "QueueEntityListing"),
    "/api/v2/routing/wrapupcodes": ("wrapup", "WrapupCodeEntityListing"),
    "/api/v2/authorization/divisions": ("division", "AuthzDivisionEntityListing"),
    "/api/v2/flows": ("flow", "FlowEntityListing"),
    "/api/v2/routing/skills": ("skill", "SkillEntityListing"),
    "/api/v2/routing/languages": ("language", "LanguageEntityListing"),
    "/api/v2/teams": ("team", "TeamEntityListing"),
}


def entity(kind, id_, name):
    e = {"id": id_, "name": name, "selfUri": f"/api/v2/{kind}s/{id_}"}
    if kind == "user":
        e["state"] = "deleted" if id_ in SCENARIO.get("deleted_users", []) else "active"
        e["email"] = name.lower().replace(" ", ".") + "@example.com"
    if kind in ("user", "queue", "wrapup", "flow"):
        e["division"] = {"id": "e0af73da-21ab-4afa-87bd-ea9e44cb984e", "name": "Home"}
    if kind == "flow":
        e["type"] = "INBOUNDCALL"
    return e


def listing(path, query):
    kind, model = LISTINGS[path]
    import csv

    rows = []
    if SCENARIO.get("names"):
        with open(SCENARIO["names"]) as f:
            rows = [r for r in csv.DictReader(f) if r["kind"] == kind and r["id"] not in SCENARIO.get("removed", [])]
    # Listings serve at most 25 a page whatever is asked (Genesys caps page sizes too).
    size = min(int(query.get("pageSize", ["25"])[0]), 25)
    number = int(query.get("pageNumber", ["1"])[0])
    count = max(1, -(-len(rows) // size))
    page = {
        "entities": [entity(kind, r["id"], r["name"]) for r in rows[(number - 1) * size:number * size]],
        "pageSize": size,
        "pageNumber": number,
        "total": len(rows),
        "pageCount": count,
    }
    if kind == "user" and number < count:
        page["nextUri"] = f"{path}?pageSize={size}&pageNumber={number + 1}&state=any"
    if kind == "team":
        # Teams are listed by cursor: no page numbers (the SDK's TeamEntityListing has none).
        page = {"entities": page["entities"], "selfUri": path}
        if number < count:
            page["nextUri"] = f"{path}?pageSize={size}&pageNumber={number + 1}"
    return kind, model, page


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=None, model=None, headers=None):
        if body is not None and model is not None and SCENARIO.get("validate", True):
            try:
                check(body, model)
            except Exception as e:  # noqa: BLE001 - the test must see any mismatch
                status, body = 500, {"message": f"mock body fails the SDK: {e}"}
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self, extra):
        if SCENARIO.get("log"):
            with LOCK, open(SCENARIO["log"], "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, **extra}) + "\n")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_POST(self):
        url = urlparse(self.path)
        raw = self.body()
        if url.path == "/oauth/token":
            return self.token(raw)
        if url.path == "/_mock/state":
            change = json.loads(raw)
            with LOCK:
                if "conversations" in change:
                    SCENARIO["_conversations"] = load(change["conversations"])
                SCENARIO.update({k: v for k, v in change.items() if k != "conversations"})
            return self.answer(200, {})
        self.api("POST", url, raw)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_mock/window":
            a, b = parse_qs(url.query)["interval"][0].split("/")
            data = "".join(json.dumps(c) + "\n" for c in window(ms(a), ms(b))).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        self.api("GET", url, b"")

    def do_DELETE(self):
        self.api("DELETE", urlparse(self.path), b"")

    def token(self, raw):
        auth = self.headers.get("Authorization", "")
        form = parse_qs(raw.decode())
        self.record({"form": {k: v[0] for k, v in form.items()}, "basic": auth.startswith("Basic ")})
        want = SCENARIO["client_id"] + ":" + SCENARIO["client_secret"]
        if auth != "Basic " + base64.b64encode(want.encode()).decode() or form.get("grant_type") != ["client_credentials"]:
            return self.answer(401, {"error": "invalid_client", "description": "bad client"})
        token = uuid.uuid4().hex
        with LOCK:
            STATE["tokens"].add(token)
        self.answer(200, {"access_token": token, "token_type": "bearer", "expires_in": 86399})

    def api(self, method, url, raw):
        with LOCK:
            STATE["requests"] += 1
            n = STATE["requests"]
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        self.record({"body": raw.decode() or None, "n": n})
        every = SCENARIO.get("throttle_every")
        if every and n % every == 0:
            return self.answer(
                429,
                {"message": "Rate limit exceeded the maximum", "code": "too.many.requests", "status": 429},
                headers={"Retry-After": "1", "inin-ratelimit-count": "300", "inin-ratelimit-allowed": "300", "inin-ratelimit-reset": "1"},
            )
        with LOCK:
            if SCENARIO.get("revoke_after") and n == SCENARIO["revoke_after"]:
                STATE["tokens"].clear()
            known = token in STATE["tokens"]
        if not known:
            return self.answer(401, {"message": "Invalid login credentials.", "code": "bad.credentials", "status": 401})
        headers = {"inin-ratelimit-count": "1", "inin-ratelimit-allowed": "300", "inin-ratelimit-reset": "60"}
        if method == "GET" and url.path in LISTINGS:
            kind, model, page = listing(url.path, parse_qs(url.query))
            if kind in SCENARIO.get("forbidden", []):
                return self.answer(403, {"message": "Unable to perform the requested action. You are missing the following permission(s): [...]", "code": "missing.any.permissions", "status": 403})
            return self.answer(200, page, model, headers)
        base = "/api/v2/analytics/conversations/details/jobs"
        parts = url.path[len(base):].strip("/").split("/") if url.path.startswith(base) else None
        if parts is None:
            return self.answer(404, {"message": "not found", "status": 404})
        if method == "GET" and parts == ["availability"]:
            return self.answer(200, {"dataAvailabilityDate": SCENARIO["availability"]}, "DataAvailabilityResponse", headers)
        if method == "POST" and parts == [""]:
            query = json.loads(raw)
            if SCENARIO.get("validate", True):
                try:
                    check(query, "AsyncConversationQuery")
                except Exception as e:  # noqa: BLE001 - the client sent what Genesys rejects
                    return self.answer(400, {"message": f"bad query: {e}", "status": 400})
            a, b = query["interval"].split("/")
            ids = None
            for f in query.get("conversationFilters", []):
                for p in f.get("predicates", []):
                    if p.get("dimension") == "conversationId":
                        ids = (ids or set()) | {p["value"]}
            job = uuid.uuid4().hex
            with LOCK:
                STATE["jobs_made"] += 1
                expire = SCENARIO.get("expire_first") and STATE["jobs_made"] == 1
                fail = SCENARIO.get("fail_interval") and ms(a) == ms(SCENARIO["fail_interval"])
                states = list(SCENARIO.get("job_states", [])) + ["EXPIRED" if expire else "FAILED" if fail else "FULFILLED"]
                STATE["jobs"][job] = {"states": states, "rows": window(ms(a), ms(b), ids), "deleted": False}
            return self.answer(202, {"jobId": job}, "AsyncQueryResponse", headers)
        job = STATE["jobs"].get(parts[0])
        if job is None or job["deleted"]:
            return self.answer(404, {"message": "job not found", "status": 404})
        if method == "DELETE" and len(parts) == 1:
            job["deleted"] = True
            return self.answer(204, None, None, headers)
        if method == "GET" and len(parts) == 1:
            state = job["states"].pop(0) if len(job["states"]) > 1 else job["states"][0]
            status = {"state": state, "submissionDate": "2026-11-30T00:00:00.000Z"}
            if state == "FAILED":
                status["errorMessage"] = "The query exceeded its allotted resources"
            if state == "EXPIRED":
                status["expirationDate"] = "2026-11-30T00:00:00.000Z"
            return self.answer(200, status, "AsyncQueryStatus", headers)
        if method == "GET" and parts[1:] == ["results"]:
            if job["states"][0] != "FULFILLED":
                return self.answer(400, {"message": "job not fulfilled", "status": 400})
            q = parse_qs(url.query)
            size = int(q.get("pageSize", ["100"])[0])
            offset = int(base64.b64decode(q["cursor"][0]).decode()) if "cursor" in q else 0
            time.sleep(SCENARIO.get("page_delay", 0))
            rows = job["rows"][offset:offset + size]
            page = {"conversations": rows, "dataAvailabilityDate": SCENARIO["availability"]}
            if offset + size < len(job["rows"]):
                page["cursor"] = base64.b64encode(str(offset + size).encode()).decode()
            return self.answer(200, page, "AnalyticsConversationAsyncQueryResponse", headers)
        self.answer(404, {"message": "not found", "status": 404})


SCENARIO = json.load(open(sys.argv[1]))
SCENARIO["_conversations"] = load(SCENARIO.get("conversations"))
class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client killed mid-request (the resume test) is not the mock's error.
        pass


server = Server(("127.0.0.1", 0), Handler)
print(json.dumps({"port": server.server_address[1]}), flush=True)
server.serve_forever()
