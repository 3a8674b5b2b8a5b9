"""The gateway as corporate networks need it: a forward proxy from the environment, TLS with a private CA.

Real servers on loopback: a forward HTTP proxy this test starts, and the stub gateway behind TLS with a
certificate from a test CA (trustme).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner
from stub_gateway import StubGateway
from support import invoke

from lakehouse.core.errors import UsageError
from lakehouse.core.paths import Layout
from lakehouse.gateway import Gateway

pytestmark = pytest.mark.fast


class ForwardProxy:
    """A plain HTTP forward proxy: requests with an absolute URI are sent on and recorded."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                target = urllib.parse.urlsplit(self.path)
                proxy.seen.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "host")
                }
                upstream.request("POST", target.path, body, headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ForwardProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


@pytest.fixture
def stub() -> Iterator[StubGateway]:
    with StubGateway() as running:
        running.script["m"] = [("ok", "hello")]
        yield running


def test_calls_go_through_the_proxy_the_environment_names(
    stub: StubGateway, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with Gateway(stub.url) as gateway:
        result = gateway.chat("m", "system", "user")
    assert (result.ok, result.content) == (True, "hello")
    assert proxy.seen == [f"{stub.url}/v1/chat/completions"]
    assert len(stub.requests) == 1


def test_no_proxy_naming_the_gateway_host_goes_direct(
    stub: StubGateway, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Gateway(stub.url) as gateway:
        assert gateway.chat("m", "system", "user").ok
    assert proxy.seen == [] and len(stub.requests) == 1


def test_a_replay_goes_through_the_proxy(
    stub: StubGateway, proxy: ForwardProxy, layout: Layout, runner: CliRunner
) -> None:
    stub.script["m"] = [("ok", "no playbooks here")]
    result = runner.invoke(
        __import__("lakehouse.cli").cli.cli,
        [
            "replay",
            "a task",
            "--no-retrieval",
            "--local-model",
            "m",
            "--gateway-url",
            stub.url,
            "--root",
            str(layout.root),
        ],
        env={"HTTP_PROXY": proxy.url, "NO_PROXY": "", "no_proxy": ""},
    )
    assert result.exit_code == 0, result.output
    assert proxy.seen == [f"{stub.url}/v1/chat/completions"]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_stub(ca: trustme.CA) -> Iterator[StubGateway]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with StubGateway(tls=context) as running:
        running.script["m"] = [("ok", "over TLS")]
        yield running


def test_a_tls_gateway_is_reached_with_its_ca_bundle(
    tls_stub: StubGateway, ca: trustme.CA, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    assert tls_stub.url.startswith("https://")
    with Gateway(tls_stub.url, ca_bundle_path=str(bundle)) as gateway:
        result = gateway.chat("m", "system", "user")
    assert (result.ok, result.content) == (True, "over TLS")


def test_a_tls_gateway_without_its_ca_is_refused_clearly(
    tls_stub: StubGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LH_GATEWAY_CA_BUNDLE", raising=False)
    with Gateway(tls_stub.url) as gateway:
        result = gateway.chat("m", "system", "user")
    assert not result.ok
    assert result.error == (
        f"TLS error calling {tls_stub.url}: its certificate is not trusted by the system's CA store "
        "(pass --ca-bundle FILE or set $LH_GATEWAY_CA_BUNDLE)"
    )
    assert tls_stub.requests == []


@pytest.fixture
def restored_gateway_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """--timeout and --ca-bundle set the process's variables (as the CLI process's): undone after the test."""
    for name in ("LH_GATEWAY_TIMEOUT", "LH_GATEWAY_CA_BUNDLE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.mark.usefixtures("restored_gateway_env")
def test_ca_bundle_and_timeout_on_the_command_line(
    tls_stub: StubGateway, ca: trustme.CA, tmp_path: Path, layout: Layout, runner: CliRunner
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    tls_stub.script["m"] = [("ok", "fine")]
    args = ["replay", "a task", "--no-retrieval", "--local-model", "m", "--gateway-url", tls_stub.url]
    trusted = invoke(
        runner, *args, "--ca-bundle", str(bundle), "--timeout", "5", "--root", str(layout.root), "--json"
    )
    assert trusted.exit_code == 0 and json.loads(trusted.stdout)["model_response"] == "fine"
    not_a_file = invoke(runner, *args, "--ca-bundle", str(tmp_path), "--root", str(layout.root))
    assert not_a_file.exit_code == 2


def test_a_bad_ca_bundle_is_a_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(UsageError, match="cannot use CA bundle"):
        Gateway("https://127.0.0.1:9", ca_bundle_path=str(junk))


def test_a_timeout_from_the_environment_must_be_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LH_GATEWAY_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="LH_GATEWAY_TIMEOUT must be a number"):
        Gateway("http://127.0.0.1:9")
    monkeypatch.setenv("LH_GATEWAY_TIMEOUT", "2.5")
    assert Gateway("http://127.0.0.1:9").timeout_s == 2.5


def test_every_thread_calls_through_the_proxy_the_environment_names(
    stub: StubGateway, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy is resolved once, when the gateway is made; every thread's own connection goes through it."""
    stub.script["m"] = [("ok", "hello")] * 24
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with Gateway(stub.url) as gateway, ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: gateway.chat("m", "system", "user"), range(24)))
    assert all(r.ok and r.content == "hello" for r in results)
    assert proxy.seen == [f"{stub.url}/v1/chat/completions"] * 24
    assert len(stub.requests) == 24


def test_all_proxy_is_used_when_no_scheme_proxy_is_named(
    stub: StubGateway, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    with Gateway(stub.url) as gateway:
        assert gateway.chat("m", "system", "user").ok
    assert proxy.seen == [f"{stub.url}/v1/chat/completions"]


class RawServer:
    """A loopback server that reads each request and answers as ``answer`` says (None: never answers)."""

    def __init__(self, answer: Callable[[int], tuple[float, bool] | None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = 0
        self.connections = 0
        self._answer = answer
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while True:
                head = [line for line in iter(reader.readline, b"\r\n") if line]
                if not head:
                    return
                length = next(int(h.split(b":")[1]) for h in head if h.lower().startswith(b"content-length"))
                reader.read(length)
                self.requests += 1
                plan = self._answer(self.requests)
                if plan is None:
                    time.sleep(30)  # never answers (the daemon thread dies with the test process)
                    return
                delay, close_after = plan
                time.sleep(delay)
                body = json.dumps({"choices": [{"message": {"content": f"answer {self.requests}"}}]}).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                if close_after:  # a keep-alive connection the server drops after answering
                    conn.shutdown(socket.SHUT_RDWR)
                    return

    def close(self) -> None:
        self.listener.close()
        for conn in self._open:
            with contextlib.suppress(OSError):
                conn.close()


def test_a_gateway_that_never_answers_times_out() -> None:
    server = RawServer(lambda n: None)
    try:
        with Gateway(server.url, timeout_s=0.4) as gateway:
            start = time.monotonic()
            result = gateway.chat("m", "system", "user")
            elapsed = time.monotonic() - start
        assert not result.ok
        assert result.error == f"timeout after 0.4s calling {server.url}"
        assert 0.35 < elapsed < 5
    finally:
        server.close()


def test_answers_slower_than_before_but_within_the_timeout_are_read() -> None:
    """The timeout holds per wait on the socket: answers taking 0.3 s pass a 2 s timeout, on one connection."""
    server = RawServer(lambda n: (0.3, False))
    try:
        with Gateway(server.url, timeout_s=2) as gateway:
            results = [gateway.chat("m", "system", "user") for _ in range(3)]
        assert [r.content for r in results] == ["answer 1", "answer 2", "answer 3"]
        assert server.connections == 1
    finally:
        server.close()


def test_a_kept_alive_connection_the_server_dropped_is_not_reused() -> None:
    server = RawServer(lambda n: (0, True))
    try:
        with Gateway(server.url, timeout_s=2) as gateway:
            results = []
            for _ in range(3):
                results.append(gateway.chat("m", "system", "user"))
                time.sleep(0.05)  # the server's close has arrived
        assert [r.ok for r in results] == [True, True, True]
        assert server.requests == 3 and server.connections == 3
    finally:
        server.close()


def test_answers_in_each_http11_framing_are_read_and_a_closing_server_is_redialled() -> None:
    """What gateways and the proxies in front of them send: a chunked body on a kept-alive connection,
    then a body that ends when the server closes (``Connection: close``, no length), then a plain one,
    which needs a new connection."""

    def body(n: int) -> bytes:
        return json.dumps({"choices": [{"message": {"content": f"answer {n}"}}]}).encode()

    framings = [
        lambda b: (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (b[:7], b[7:]))
            + b"0\r\n\r\n"
        ),
        lambda b: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b,
        lambda b: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b),
    ]
    listener = socket.create_server(("127.0.0.1", 0))
    served = {"requests": 0, "connections": 0}

    def serve() -> None:
        while served["requests"] < len(framings):
            conn, _ = listener.accept()
            served["connections"] += 1
            with conn, conn.makefile("rb") as reader:
                while served["requests"] < len(framings):
                    head = [line for line in iter(reader.readline, b"\r\n") if line]
                    if not head:
                        break
                    length = next(
                        int(h.split(b":")[1]) for h in head if h.lower().startswith(b"content-length")
                    )
                    reader.read(length)
                    served["requests"] += 1
                    conn.sendall(framings[served["requests"] - 1](body(served["requests"])))
                    if b"Connection: close" in framings[served["requests"] - 1](b""):
                        break

    threading.Thread(target=serve, daemon=True).start()
    try:
        with Gateway(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=2) as gateway:
            results = [gateway.chat("m", "system", "user") for _ in framings]
        assert [r.content for r in results] == ["answer 1", "answer 2", "answer 3"], [
            r.error for r in results
        ]
        assert served["connections"] == 2
    finally:
        listener.close()
