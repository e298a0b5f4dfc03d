"""heliport over TLS end to end, with the official OpenAI SDK.

A private CA and certificates are made here with `trustme` (nothing is
committed). `heliport mock --tls-cert/--tls-key` is the upstream (offering
HTTP/2 and HTTP/1.1); heliport trusts the CA through `HELIPORT_CA_BUNDLE` and
serves its own listener over TLS (`HELIPORT_TLS_CERT`, `HELIPORT_TLS_KEY`).
The SDK trusts the CA through httpx's `verify=`: an SSL context loading the
CA's PEM from the path the test wrote it to.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import openai
import pytest
import trustme

from conftest import (
    KEY_RE,
    OPENAI_PROVIDER_KEY,
    START_TIMEOUT,
    Process,
    free_port,
    heliport_bin,
    tail,
)

REPLY = "Hello from the heliport mock."


def trusting(ca: Path) -> ssl.SSLContext:
    """What httpx's `verify=` takes to trust the CA at `ca` (a path string is deprecated)."""
    return ssl.create_default_context(cafile=str(ca))


def wait_https(proc: Process, url: str, ca: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited:\n{tail(proc.log)}")
        try:
            if httpx.get(url, verify=trusting(ca), timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} not ready at {url} ({last}):\n{tail(proc.log)}")


class TlsGateway:
    def __init__(self, url: str, mock_url: str, key: str, ca: Path, log: Path):
        self.url = url
        self.mock_url = mock_url
        self.key = key
        self.ca = ca
        self.log = log

    def http(self) -> httpx.Client:
        return httpx.Client(verify=trusting(self.ca), timeout=10.0)

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1",
            api_key=OPENAI_PROVIDER_KEY,
            default_headers={"Helicone-Auth": f"Bearer {self.key}"},
            max_retries=0,
            timeout=10.0,
            http_client=self.http(),
        )

    def record(self, request_id: str) -> dict:
        deadline = time.monotonic() + 5.0
        with self.http() as c:
            while True:
                r = c.get(
                    f"{self.url}/v1/request/{request_id}",
                    headers={"Authorization": f"Bearer {self.key}"},
                )
                if r.status_code == 200:
                    return r.json()["data"]
                assert r.status_code == 404, r.text
                assert time.monotonic() < deadline, f"no record {request_id}:\n{tail(self.log)}"
                time.sleep(0.05)


@pytest.fixture(scope="module")
def tls_gateway():
    binary = heliport_bin()
    tmp = Path(tempfile.mkdtemp(prefix="heliport-e2e-tls-"))
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_path = tmp / "ca.pem"
    cert_path = tmp / "cert.pem"
    key_path = tmp / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    leaf.private_key_pem.write_to_path(str(key_path))
    for i, blob in enumerate(leaf.cert_chain_pems):
        blob.write_to_path(str(cert_path), append=i > 0)

    env = {k: v for k, v in os.environ.items() if not k.startswith("HELIPORT_")}
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(var, None)
    mock_port = free_port()
    mock_url = f"https://127.0.0.1:{mock_port}"
    mock = Process(
        "heliport mock (TLS)",
        [
            str(binary),
            "mock",
            "--listen",
            f"127.0.0.1:{mock_port}",
            "--tls-cert",
            str(cert_path),
            "--tls-key",
            str(key_path),
        ],
        env,
        tmp / "mock.log",
    )
    gateway: Process | None = None
    try:
        wait_https(mock, f"{mock_url}/__mock/health", ca_path)
        env["HELIPORT_DATABASE_URL"] = f"sqlite://{tmp / 'heliport.db'}"
        env["HELIPORT_SPOOL_PATH"] = str(tmp / "heliport.spool")
        out = subprocess.run(
            [str(binary), "keys", "create", "--name", "e2e-tls"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        key = KEY_RE.search(out.stdout).group(0)
        port = free_port()
        env.update(
            {
                "HELIPORT_LISTEN": f"127.0.0.1:{port}",
                "HELIPORT_OPENAI_BASE_URL": mock_url,
                "HELIPORT_CA_BUNDLE": str(ca_path),
                "HELIPORT_TLS_CERT": str(cert_path),
                "HELIPORT_TLS_KEY": str(key_path),
            }
        )
        gateway = Process("heliport serve (TLS)", [str(binary), "serve"], env, tmp / "heliport.log")
        url = f"https://127.0.0.1:{port}"
        wait_https(gateway, f"{url}/healthz", ca_path)
        yield TlsGateway(url, mock_url, key, ca_path, tmp / "heliport.log")
    finally:
        if gateway is not None:
            gateway.stop()
        mock.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_openai_sdk_chats_and_streams_over_tls(tls_gateway):
    client = tls_gateway.openai()
    request_id = str(uuid.uuid4())
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "one two three"}],
        extra_headers={"Helicone-Request-Id": request_id},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == REPLY
    assert raw.headers["helicone-id"] == request_id
    record = tls_gateway.record(request_id)
    assert record["response_status"] == 200
    assert record["prompt_tokens"] == 3
    assert record["completion_tokens"] == 5

    stream_id = str(uuid.uuid4())
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"Helicone-Request-Id": stream_id},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == REPLY
    record = tls_gateway.record(stream_id)
    assert record["failure"] is None
    assert record["completion_tokens"] == 5

    # heliport reached the TLS mock over HTTP/2.
    with tls_gateway.http() as c:
        seen = c.get(f"{tls_gateway.mock_url}/__mock/requests").json()
    assert seen and all(r["version"] == "HTTP/2.0" for r in seen), seen


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_gateway):
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{tls_gateway.url}/healthz", timeout=5.0)
    # The SDK says so too, as a connection error.
    client = openai.OpenAI(
        base_url=f"{tls_gateway.url}/v1",
        api_key=OPENAI_PROVIDER_KEY,
        max_retries=0,
        timeout=5.0,
    )
    with pytest.raises(openai.APIConnectionError):
        client.models.list()
