#!/usr/bin/env python3
"""Times heliport's REST queries (bench/rest.sh drives it).

Usage: rest_client.py BASE_URL KEY [RUNS]

Runs every query RUNS times (default 20) against a heliport that holds the
seeded history, while a background thread proxies light chat traffic
through it (TRAFFIC_RPS requests/s, default 20, to the mock provider), and
prints a markdown table of p50 / p95 / max per query. Standard library only;
one keep-alive connection per thread.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

BASE, KEY = sys.argv[1], sys.argv[2]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 20
TRAFFIC_RPS = float(os.environ.get("TRAFFIC_RPS", "20"))
HOST = urllib.parse.urlparse(BASE)


def connect() -> http.client.HTTPConnection:
    return http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=120)


class Client:
    def __init__(self, headers=None) -> None:
        self.conn = connect()
        # Sent with every call (the dashboard bench's session cookie).
        self.headers = headers or {}

    def call(self, method: str, path: str, body=None, headers=None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        h.update(self.headers)
        h.update(headers or {})
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=h)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = connect()
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def leaf(**fields):
    return {"request_response_rmt": fields}


def AND(a, b):
    return {"left": a, "operator": "and", "right": b}


def start_traffic():
    """Proxies chat completions in the background at TRAFFIC_RPS; returns
    the stop event, the thread and [answered 200, failed]."""
    stop = threading.Event()
    sent = [0, 0]

    def traffic() -> None:
        t = Client()
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello from the bench"}]}
        headers = {"Helicone-Auth": f"Bearer {KEY}", "Helicone-Property-Environment": "bench",
                   "Helicone-User-Id": "bench-user"}
        gap = 1.0 / TRAFFIC_RPS if TRAFFIC_RPS > 0 else None
        while gap and not stop.is_set():
            start = time.monotonic()
            try:
                status, _ = t.call("POST", "/v1/chat/completions", body,
                                   {**headers, "Authorization": "Bearer sk-bench"})
                sent[0 if status == 200 else 1] += 1
            except OSError:
                sent[1] += 1
            time.sleep(max(0.0, gap - (time.monotonic() - start)))

    th = threading.Thread(target=traffic, daemon=True)
    th.start()
    time.sleep(1.0)
    return stop, th, sent


def time_calls(c: Client, calls) -> list:
    """Each (name, method, path, body) once to warm up, then RUNS timed
    times; rows of (name, status, p50, p95, max, answer bytes)."""
    rows = []
    for name, method, path, body in calls:
        c.call(method, path, body)  # warm-up
        times, status, size = [], None, 0
        for _ in range(RUNS):
            t0 = time.perf_counter()
            status, payload = c.call(method, path, body)
            times.append((time.perf_counter() - t0) * 1000)
            size = len(payload)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        rows.append((name, status, statistics.median(times), p95, times[-1], size))
        print(f"  {name}: {status} p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms", file=sys.stderr)
    return rows


def print_table(rows, what: str, plural: str, size: str) -> None:
    print(f"| {what} | status | p50 ms | p95 ms | max ms | {size} |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, status, p50, p95, mx, n in rows:
        print(f"| {name} | {status} | {p50:.1f} | {p95:.1f} | {mx:.1f} | {n} |")
    print()
    worst = max(rows, key=lambda r: r[3])
    print(f"- slowest p95: {worst[0]} at {worst[3]:.1f} ms; "
          f"{sum(1 for r in rows if r[3] < 300)} of {len(rows)} {plural} under 300 ms p95")


def print_traffic(sent) -> None:
    print(f"- light traffic during the run: {sent[0]} proxied requests answered 200, {sent[1]} failed "
          f"(target {TRAFFIC_RPS:g}/s)")


def main() -> None:
    c = Client()
    now_ms = int(time.time() * 1000)
    day, week, month = now_ms - 86_400_000, now_ms - 7 * 86_400_000, now_ms - 30 * 86_400_000

    # Ids to look up, taken from the data.
    _, body = c.call("POST", "/v1/request/query", {"limit": 1, "offset": 5000})
    request_id = json.loads(body)["data"][0]["request_id"]
    _, body = c.call("POST", "/v1/session/query", {"limit": 1, "offset": 100})
    session_id = json.loads(body)["data"][0]["session_id"]
    _, body = c.call("POST", "/v1/user/query", {"limit": 5, "offset": 50})
    user_ids = [u["user_id"] for u in json.loads(body)["data"]]

    queries = [
        ("request query: newest 10", "POST", "/v1/request/query", {}),
        ("request query: property environment=production, 100", "POST", "/v1/request/query",
         {"filter": leaf(properties={"environment": {"equals": "production"}}), "limit": 100}),
        ("request query: two properties (customer, feature), 50", "POST", "/v1/request/query",
         {"filter": AND(leaf(properties={"customer": {"equals": "cust-042"}}),
                        leaf(properties={"feature": {"equals": "search"}})), "limit": 50}),
        ("request query: model + last 24 h, sort cost desc, 100", "POST", "/v1/request/query",
         {"filter": leaf(model={"equals": "gpt-4o"}, request_created_at={"gte": day}),
          "sort": {"cost": "desc"}, "limit": 100}),
        ("request query: user, 50", "POST", "/v1/request/query",
         {"filter": leaf(user_id={"equals": user_ids[0]}), "limit": 50}),
        ("request query: status >= 500 OR rate limited, 100", "POST", "/v1/request/query",
         {"filter": {"left": leaf(status={"gte": 500}), "operator": "or",
                     "right": leaf(status={"equals": 429})}, "limit": 100}),
        ("request query: body contains, last hour, 20", "POST", "/v1/request/query",
         {"filter": leaf(request_body={"contains": "invoice"}, request_created_at={"gte": now_ms - 3_600_000}),
          "limit": 20}),
        ("request query: 1000 rows, sort latency", "POST", "/v1/request/query",
         {"filter": leaf(request_created_at={"gte": now_ms - 3 * 3_600_000}), "sort": {"latency": "desc"}, "limit": 1000}),
        ("GET /v1/request/{id}", "GET", f"/v1/request/{request_id}", None),
        ("count: all", "POST", "/v1/request/count/query", {}),
        ("count: model, last 7 days", "POST", "/v1/request/count/query",
         {"filter": leaf(model={"equals": "gpt-4o-mini"}, request_created_at={"gte": week, "lt": now_ms})}),
        ("count: property environment=production", "POST", "/v1/request/count/query",
         {"filter": leaf(properties={"environment": {"equals": "production"}})}),
        ("count: latency > 5 s, last 24 h", "POST", "/v1/request/count/query",
         {"filter": leaf(latency={"gt": 5000}, request_created_at={"gte": day})}),
        ("users: all time, top 100 by cost", "POST", "/v1/user/query", {"sort": {"cost": "desc"}}),
        ("users: last 7 days, by requests", "POST", "/v1/user/query",
         {"timeFilter": {"startTimeUnixSeconds": week // 1000, "endTimeUnixSeconds": now_ms // 1000},
          "sort": {"requests": "desc"}}),
        ("users: 5 userIds, last 30 days", "POST", "/v1/user/query",
         {"userIds": user_ids, "timeFilter": {"startTimeUnixSeconds": month // 1000,
                                              "endTimeUnixSeconds": now_ms // 1000}}),
        ("sessions: latest 100", "POST", "/v1/session/query", {}),
        ("sessions: last 24 h, search, by cost", "POST", "/v1/session/query",
         {"search": "sess", "timeFilter": {"startTimeUnixMs": day, "endTimeUnixMs": now_ms},
          "sort": {"cost": "desc"}}),
        ("session tree", "GET", f"/v1/session/{session_id}", None),
        ("properties: names, all time", "POST", "/v1/property/query", {}),
        ("properties: names, last 7 days", "POST", "/v1/property/query",
         {"timeFilter": {"start": week, "end": now_ms}}),
        ("properties: customer values, all time", "POST", "/v1/property/customer/query", {}),
        ("properties: environment values, last 24 h", "POST", "/v1/property/environment/query",
         {"timeFilter": {"start": day, "end": now_ms}}),
        ("prompts: list", "POST", "/v1/prompt/query", {}),
        ("prompts: one prompt, versions and usage", "GET", "/v1/prompt/sql-writer", None),
        ("metrics: 24 h, hourly, by model", "POST", "/v1/request/metrics/query",
         {"timeFilter": {"start": day, "end": now_ms}, "bucket": "hour", "groupBy": "model"}),
        ("metrics: 30 days, daily, by provider", "POST", "/v1/request/metrics/query",
         {"timeFilter": {"start": month, "end": now_ms}, "bucket": "day", "groupBy": "provider"}),
        ("metrics: 7 days, by property feature", "POST", "/v1/request/metrics/query",
         {"timeFilter": {"start": week, "end": now_ms}, "groupBy": "property:feature"}),
        ("metrics: 30 days, by user", "POST", "/v1/request/metrics/query",
         {"timeFilter": {"start": month, "end": now_ms}, "groupBy": "user", "limit": 20}),
        ("metrics: last hour, per minute", "POST", "/v1/request/metrics/query",
         {"timeFilter": {"start": now_ms - 3_600_000, "end": now_ms}, "bucket": "minute"}),
        ("export: 1000 rows as CSV", "POST", "/v1/request/export?format=csv", {"limit": 1000}),
        ("feedback (write)", "POST", f"/v1/request/{request_id}/feedback", {"rating": True}),
        ("score (write)", "POST", f"/v1/request/{request_id}/score", {"scores": {"quality": 4}}),
        ("property edit (write)", "PUT", f"/v1/request/{request_id}/property",
         {"key": "reviewed", "value": "yes"}),
    ]

    stop, th, sent = start_traffic()
    rows = time_calls(c, queries)
    # A whole export, once: streamed rows per second.
    t0 = time.perf_counter()
    status, payload = c.call("POST", "/v1/request/export", {"sort": {"created_at": "asc"}})
    export_s = time.perf_counter() - t0
    export_rows = payload.count(b"\n")
    stop.set()
    th.join(timeout=5)

    print_table(rows, "query", "queries", "answer bytes")
    print(f"- whole export (JSON lines, every request): {export_rows} rows in {export_s:.1f} s "
          f"({export_rows / export_s:.0f} rows/s, {len(payload) / 1e6:.0f} MB), status {status}")
    print_traffic(sent)


if __name__ == "__main__":
    main()
