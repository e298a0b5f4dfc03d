#!/usr/bin/env python3
"""Times heliport's dashboard pages (bench/dashboard.sh drives it).

Usage: dashboard_client.py BASE_URL KEY [RUNS]

Signs in with KEY (form POST, session cookie), then loads every dashboard
page RUNS times (after one warm-up) on one keep-alive connection, while a
background thread proxies light chat traffic (TRAFFIC_RPS requests/s, default
10) so the writer keeps recording. Prints a markdown table of p50 / p95 / max
per page. Standard library only.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse

BASE, KEY = sys.argv[1], sys.argv[2]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 20
TRAFFIC_RPS = float(os.environ.get("TRAFFIC_RPS", "10"))
HOST = urllib.parse.urlparse(BASE)


def connect() -> http.client.HTTPConnection:
    return http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=120)


class Client:
    def __init__(self, cookie: str | None = None) -> None:
        self.conn = connect()
        self.cookie = cookie

    def call(self, method: str, path: str, body: bytes | None = None, headers=None):
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                return resp.status, resp.getheaders(), resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = connect()
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def sign_in() -> str:
    c = Client()
    body = urllib.parse.urlencode({"key": KEY, "next": "/"}).encode()
    status, headers, _ = c.call("POST", "/signin", body,
                                {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 303:
        sys.exit(f"sign-in failed: {status}")
    for k, v in headers:
        if k.lower() == "set-cookie":
            return v.split(";")[0]
    sys.exit("no session cookie")


def rest(path: str, body: dict) -> list:
    c = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=120)
    c.request("POST", path, body=json.dumps(body),
              headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    return json.loads(c.getresponse().read())["data"]


def main() -> None:
    cookie = sign_in()
    c = Client(cookie)
    request_id = rest("/v1/request/query", {"limit": 1, "offset": 5000})[0]["request_id"]
    session_id = rest("/v1/session/query", {"limit": 1, "offset": 100})[0]["session_id"]
    user_id = rest("/v1/user/query", {"limit": 1, "offset": 50})[0]["user_id"]
    q = urllib.parse.quote
    an_hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))

    pages = [
        ("overview: last day (default)", "/"),
        ("overview: last hour", "/?range=1h"),
        ("overview: last week", "/?range=7d"),
        ("overview: last month", "/?range=30d"),
        ("overview: last month, property customer", "/?range=30d&property=customer"),
        ("requests: newest 50", "/requests"),
        ("requests: model, last day, sort cost", "/requests?range=24h&model=gpt-4o&sort=cost&dir=desc"),
        ("requests: property environment=production", "/requests?prop_name=environment&prop_value=production"),
        ("requests: user", f"/requests?user={q(user_id)}"),
        ("requests: session", f"/requests?session={q(session_id)}"),
        ("requests: 5xx", "/requests?status=5xx"),
        ("requests: rate limited", "/requests?rate_limited=yes"),
        ("requests: cached, latency >= 1000 ms", "/requests?cached=yes&latency_min=1000"),
        ("requests: cost $0.01-$1", "/requests?cost_min=0.01&cost_max=1"),
        ("requests: text in bodies, last hour", "/requests?range=1h&text=invoice"),
        ("requests: page 20", "/requests?offset=950"),
        ("request detail", f"/requests/{q(request_id)}"),
        ("live tail page", "/live"),
        ("live tail rows (last hour)", f"/live/rows?after={q(an_hour_ago)}"),
        ("users: last month", "/users"),
        ("users: last week by cost", "/users?range=7d&sort=cost"),
        ("sessions: last week", "/sessions"),
        ("sessions: last month by cost", "/sessions?range=30d&sort=cost"),
        ("session tree + waterfall", f"/sessions/{q(session_id)}"),
        ("properties: names, last month", "/properties"),
        ("properties: customer values", "/properties/customer"),
        ("prompts: list", "/prompts"),
        ("prompts: versions and diff", "/prompts/sql-writer"),
        ("keys", "/keys"),
    ]

    stop = threading.Event()
    sent = [0, 0]

    def traffic() -> None:
        t = Client()
        body = json.dumps({"model": "gpt-4o-mini",
                           "messages": [{"role": "user", "content": "hello from the bench"}]}).encode()
        headers = {"Helicone-Auth": f"Bearer {KEY}", "Authorization": "Bearer sk-bench",
                   "Content-Type": "application/json", "Helicone-Property-Environment": "bench"}
        gap = 1.0 / TRAFFIC_RPS if TRAFFIC_RPS > 0 else None
        while gap and not stop.is_set():
            start = time.monotonic()
            try:
                status, _, _ = t.call("POST", "/v1/chat/completions", body, headers)
                sent[0 if status == 200 else 1] += 1
            except OSError:
                sent[1] += 1
            time.sleep(max(0.0, gap - (time.monotonic() - start)))

    th = threading.Thread(target=traffic, daemon=True)
    th.start()
    time.sleep(1.0)

    rows = []
    for name, path in pages:
        c.call("GET", path)  # warm-up
        times, status, size = [], None, 0
        for _ in range(RUNS):
            t0 = time.perf_counter()
            status, _, payload = c.call("GET", path)
            times.append((time.perf_counter() - t0) * 1000)
            size = len(payload)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        rows.append((name, status, statistics.median(times), p95, times[-1], size))
        print(f"  {name}: {status} p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms",
              file=sys.stderr)
    stop.set()
    th.join(timeout=5)

    print("| page | status | p50 ms | p95 ms | max ms | HTML bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, status, p50, p95, mx, size in rows:
        print(f"| {name} | {status} | {p50:.1f} | {p95:.1f} | {mx:.1f} | {size} |")
    print()
    worst = max(rows, key=lambda r: r[3])
    print(f"- slowest p95: {worst[0]} at {worst[3]:.1f} ms; "
          f"{sum(1 for r in rows if r[3] < 300)} of {len(rows)} pages under 300 ms p95")
    print(f"- light traffic during the run: {sent[0]} proxied requests answered 200, {sent[1]} failed "
          f"(target {TRAFFIC_RPS:g}/s)")


if __name__ == "__main__":
    main()
