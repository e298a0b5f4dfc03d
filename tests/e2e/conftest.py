"""Session fixtures for heliport's end-to-end tests.

One mock provider (`heliport mock`) and one gateway (`heliport serve`, auth
mode `required`) are started for the whole session, in a temporary directory,
on free loopback ports. The tests drive the gateway with the official `openai`
and `anthropic` SDKs and read the records back through heliport's REST API.

The binary is `$HELIPORT_BIN`, else `target/debug/heliport` of this checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import anthropic
import httpx
import openai
import pytest

REPO = Path(__file__).resolve().parents[2]
KEY_RE = re.compile(r"sk-heliport-[A-Za-z0-9]+")
# Provider keys the SDKs send; heliport forwards them and must never store them.
OPENAI_PROVIDER_KEY = "sk-provider-test"
ANTHROPIC_PROVIDER_KEY = "sk-ant-test"
RECORD_TIMEOUT = 5.0
START_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def heliport_bin() -> Path:
    path = Path(os.environ.get("HELIPORT_BIN") or REPO / "target" / "debug" / "heliport")
    if not path.is_file():
        pytest.exit(
            f"heliport binary not found at {path}: run `cargo build -p heliport` "
            "or set HELIPORT_BIN",
            returncode=2,
        )
    return path


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Process:
    """A child process whose output goes to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{tail(self.log)}"
                )
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready at {url} ({last}):\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log_file.close()


class Heliport:
    """The running gateway and mock, with helpers for the tests."""

    def __init__(self, url: str, mock_url: str, keys: dict[str, str], log: Path):
        self.url = url
        self.mock_url = mock_url
        self.key = keys["rw"]
        self.read_key = keys["r"]
        self.write_key = keys["w"]
        self.log = log
        self.http = httpx.Client(base_url=url, timeout=10.0)

    # --- SDK clients -------------------------------------------------------

    def _client_kwargs(self, key: str | None, kw: dict[str, Any]) -> dict[str, Any]:
        """Shared SDK settings: Helicone-Auth (unless `key=None`), no retries, a timeout."""
        key = self.key if key == "default" else key
        headers = dict(kw.pop("default_headers", {}) or {})
        if key is not None:
            headers["Helicone-Auth"] = f"Bearer {key}"
        kw.setdefault("max_retries", 0)
        kw.setdefault("timeout", 10.0)
        return {"default_headers": headers, **kw}

    def openai(self, key: str | None = "default", **kw: Any) -> openai.OpenAI:
        """An OpenAI client through heliport; `key=None` sends no Helicone-Auth."""
        return openai.OpenAI(
            base_url=f"{self.url}/v1",
            api_key=OPENAI_PROVIDER_KEY,
            **self._client_kwargs(key, kw),
        )

    def anthropic(self, key: str | None = "default", **kw: Any) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=f"{self.url}/anthropic",
            api_key=ANTHROPIC_PROVIDER_KEY,
            **self._client_kwargs(key, kw),
        )

    # --- REST API ----------------------------------------------------------

    def api(self, method: str, path: str, key: str | None = "default", **kw: Any) -> httpx.Response:
        key = self.key if key == "default" else key
        headers = dict(kw.pop("headers", {}) or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.http.request(method, path, headers=headers, **kw)

    def record(self, request_id: str, timeout: float = RECORD_TIMEOUT) -> dict:
        """The record of `request_id`, polling until the writer has stored it."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.api("GET", f"/v1/request/{request_id}")
            if r.status_code == 200:
                body = r.json()
                assert body["error"] is None, body
                return body["data"]
            assert r.status_code == 404, f"GET /v1/request/{request_id}: {r.status_code} {r.text}"
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no record for request {request_id} after {timeout}s\n"
                    f"heliport log:\n{tail(self.log)}"
                )
            time.sleep(0.05)

    def query(self, filter: Any, key: str | None = "default", **body: Any) -> list[dict]:
        r = self.api("POST", "/v1/request/query", key=key, json={"filter": filter, **body})
        assert r.status_code == 200, f"query {filter}: {r.status_code} {r.text}"
        env = r.json()
        assert env["error"] is None, env
        return env["data"]

    def count(self, filter: Any) -> int:
        r = self.api("POST", "/v1/request/count/query", json={"filter": filter})
        assert r.status_code == 200, f"count {filter}: {r.status_code} {r.text}"
        env = r.json()
        assert env["error"] is None, env
        return env["data"]

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = RECORD_TIMEOUT) -> Any:
        """Polls `check` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {got!r}")
            time.sleep(0.05)

    # --- mock provider -----------------------------------------------------

    def mock_requests(self) -> list[dict]:
        r = httpx.get(f"{self.mock_url}/__mock/requests", timeout=5.0)
        r.raise_for_status()
        return r.json()

    def mock_request(self, tag: str) -> dict | None:
        """The request the mock received carrying header `x-e2e-tag: <tag>`.

        Returns it with `headers` as a list of (name, value) pairs and
        `json` the parsed body (or None).
        """
        for req in self.mock_requests():
            if ("x-e2e-tag", tag) in [tuple(h) for h in req["headers"]]:
                try:
                    req["json"] = json.loads(req["body"])
                except ValueError:
                    req["json"] = None
                return req
        return None


@pytest.fixture(scope="session")
def heliport():
    binary = heliport_bin()
    tmp = Path(tempfile.mkdtemp(prefix="heliport-e2e-"))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("HELIPORT_")
    }

    mock_port = free_port()
    mock_url = f"http://127.0.0.1:{mock_port}"
    mock = Process(
        "heliport mock",
        [str(binary), "mock", "--listen", f"127.0.0.1:{mock_port}"],
        env,
        tmp / "mock.log",
    )
    gateway: Process | None = None
    try:
        mock.wait_ready(f"{mock_url}/__mock/health")

        env["HELIPORT_DATABASE_URL"] = f"sqlite://{tmp / 'heliport.db'}"
        env["HELIPORT_SPOOL_PATH"] = str(tmp / "heliport.spool")
        keys = {}
        for perms in ("rw", "r", "w"):
            out = subprocess.run(
                [str(binary), "keys", "create", "--name", f"e2e-{perms}", "--permissions", perms],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert out.returncode == 0, f"keys create failed: {out.stdout}{out.stderr}"
            m = KEY_RE.search(out.stdout)
            assert m, f"no key in `keys create` output: {out.stdout!r}"
            keys[perms] = m.group(0)

        port = free_port()
        env["HELIPORT_LISTEN"] = f"127.0.0.1:{port}"
        env["HELIPORT_AUTH_MODE"] = "required"
        # Fallback entries and target URLs are client-supplied: the loopback mock
        # must be allowed explicitly, as an operator would allow an internal server.
        env["HELIPORT_ALLOWED_TARGETS"] = mock_url
        # Moderation on Anthropic routes needs an OpenAI key of heliport's own.
        env["HELIPORT_MODERATION_API_KEY"] = "sk-moderation-e2e"
        # Every provider route goes to the mock (the cost conformance test
        # uses them all).
        for provider in (
            "OPENAI",
            "ANTHROPIC",
            "GEMINI",
            "AZURE",
            "GROQ",
            "MISTRAL",
            "DEEPSEEK",
            "XAI",
            "TOGETHER",
            "OPENROUTER",
            "FIREWORKS",
        ):
            env[f"HELIPORT_{provider}_BASE_URL"] = mock_url
        gateway = Process("heliport serve", [str(binary), "serve"], env, tmp / "heliport.log")
        url = f"http://127.0.0.1:{port}"
        gateway.wait_ready(f"{url}/healthz")

        h = Heliport(url, mock_url, keys, tmp / "heliport.log")
        yield h
        h.http.close()
    finally:
        if gateway is not None:
            gateway.stop()
        mock.stop()
        if os.environ.get("HELIPORT_E2E_KEEP"):
            print(f"\nheliport e2e files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
