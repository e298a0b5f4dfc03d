#!/usr/bin/env python3
"""Times heliport's dashboard pages (bench/dashboard.sh drives it).

Usage: dashboard_client.py BASE_URL KEY [RUNS]

Signs in with KEY (form POST, session cookie), then loads every dashboard
page RUNS times (after one warm-up) on one keep-alive connection, while
light chat traffic is proxied alongside (TRAFFIC_RPS requests/s) so the
writer keeps recording; prints a markdown table of p50 / p95 / max per page.
The connection, traffic and timing are bench/rest_client.py's.
"""

from __future__ import annotations

import sys
import time
import urllib.parse

import rest_client as rc


def sign_in() -> str:
    c = rc.Client()
    body = urllib.parse.urlencode({"key": rc.KEY, "next": "/"})
    c.conn.request("POST", "/signin", body=body,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = c.conn.getresponse()
    resp.read()
    cookie = resp.getheader("Set-Cookie")
    if resp.status != 303 or not cookie:
        sys.exit(f"sign-in failed: {resp.status}")
    return cookie.split(";")[0]


def main() -> None:
    rest = rc.Client()

    def first(path: str, body: dict) -> dict:
        return rc.json.loads(rest.call("POST", path, body)[1])["data"][0]

    request_id = first("/v1/request/query", {"limit": 1, "offset": 5000})["request_id"]
    session_id = first("/v1/session/query", {"limit": 1, "offset": 100})["session_id"]
    user_id = first("/v1/user/query", {"limit": 1, "offset": 50})["user_id"]
    q = urllib.parse.quote
    an_hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))

    pages = [
        ("overview: last day (default)", "/"),
        ("overview: last hour", "/?range=1h"),
        ("overview: last week", "/?range=7d"),
        ("overview: last month", "/?range=30d"),
        ("overview: last month, property customer", "/?range=30d&property=customer"),
        ("overview panel: by user, last day", "/overview/breakdown?by=user&fragment=1"),
        ("overview panel: by user, last week", "/overview/breakdown?by=user&range=7d&fragment=1"),
        ("overview panel: by user, last month", "/overview/breakdown?by=user&range=30d&fragment=1"),
        ("overview panel: by property environment, last day",
         "/overview/breakdown?by=property&property=environment&fragment=1"),
        ("overview panel: by property customer, last month",
         "/overview/breakdown?by=property&property=customer&range=30d&fragment=1"),
        ("requests: newest 50 (last day)", "/requests"),
        ("requests: newest 50, all time", "/requests?range=all"),
        ("requests: model, last day, sort cost", "/requests?range=24h&model=gpt-4o&sort=cost&dir=desc"),
        ("requests: property environment=production", "/requests?prop_name=environment&prop_value=production"),
        ("requests: property environment=production, all time",
         "/requests?range=all&prop_name=environment&prop_value=production"),
        ("requests: user, all time", f"/requests?range=all&user={q(user_id)}"),
        ("requests: session, all time", f"/requests?range=all&session={q(session_id)}"),
        ("requests: 5xx", "/requests?status=5xx"),
        ("requests: rate limited", "/requests?rate_limited=yes"),
        ("requests: cached, latency >= 1000 ms", "/requests?cached=yes&latency_min=1000"),
        ("requests: cost $0.01-$1", "/requests?cost_min=0.01&cost_max=1"),
        ("requests: text in bodies, last hour", "/requests?range=1h&text=invoice"),
        ("requests: page 20", "/requests?offset=950"),
        ("requests: page 20, all time, sort cost", "/requests?range=all&sort=cost&offset=950"),
        ("request detail", f"/requests/{q(request_id)}"),
        ("live tail page", "/live"),
        ("live tail rows (last hour)", f"/live/rows?after={q(an_hour_ago)}"),
        ("users: last week (default)", "/users"),
        ("users: last week by cost", "/users?range=7d&sort=cost"),
        ("users: last month", "/users?range=30d"),
        ("sessions: last week (default)", "/sessions"),
        ("sessions: last month by cost", "/sessions?range=30d&sort=cost"),
        ("session tree + waterfall", f"/sessions/{q(session_id)}"),
        ("properties: names, last month", "/properties"),
        ("properties: customer values", "/properties/customer"),
        ("prompts: list", "/prompts"),
        ("prompts: versions and diff", "/prompts/sql-writer"),
        ("keys", "/keys"),
    ]

    c = rc.Client({"Cookie": sign_in()})
    stop, th, sent = rc.start_traffic()
    rows = rc.time_calls(c, [(name, "GET", path, None) for name, path in pages])
    stop.set()
    th.join(timeout=5)
    rc.print_table(rows, "page", "pages", "HTML bytes")
    rc.print_traffic(sent)


if __name__ == "__main__":
    main()
