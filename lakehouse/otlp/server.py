"""``lakehouse otlp serve``: an OTLP/HTTP receiver (``POST /v1/traces``, ``POST /v1/logs``).

The HTTP layer is the standard library's ``ThreadingHTTPServer`` (one thread a connection, keep-alive):
chosen by measurement over uvicorn (BENCHMARKS.md, "OTLP receiver"); the time of a request goes to
decoding, flattening and the fsync, not to HTTP. A request is answered 200 only once its spans are on
disk (:mod:`lakehouse.otlp.store`); what cannot be taken is answered with the status OTLP/HTTP asks for
(400, 401, 404, 405, 411, 413, 415; 503 when the disk refuses, which exporters retry) and nothing of
it is written. A malformed request never stops the receiver.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lakehouse.core.errors import LakehouseError, OtlpRequestError, StorageError, UsageError
from lakehouse.core.paths import Layout
from lakehouse.otlp import decode, store

TOKEN_ENV = "LH_OTLP_TOKEN"
DEFAULT_PORT = 4318
ROUTES: dict[str, decode.Signal] = {"/v1/traces": "traces", "/v1/logs": "logs"}
IDLE_TIMEOUT_S = 30.0  # a keep-alive connection that says nothing this long is closed


@dataclass
class Counters:
    """What the receiver took in since it started (read by the CLI's status lines)."""

    requests: int = 0
    spans: int = 0
    logs: int = 0
    rejected: int = 0
    refused: int = 0  # requests answered with an error status
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


class Receiver:
    """The server and its settings; ``serve`` blocks until ``stop``."""

    def __init__(
        self,
        layout: Layout,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: str | None = None,
        max_body_bytes: int = decode.DEFAULT_MAX_BODY_BYTES,
        on_stored: Callable[[], None] | None = None,
        report: Callable[[str], None] = lambda message: None,
    ) -> None:
        if not token and not is_loopback(host):
            raise UsageError(
                f"--host {host} accepts connections from other machines: set ${TOKEN_ENV} to the bearer "
                "token exporters must send (OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer <token>')"
            )
        self.store = store.Store(layout)
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.on_stored = on_stored
        self.report = report
        self.counters = Counters()
        self._in_flight = 0
        self._idle = threading.Condition()
        try:
            self.httpd = _Server((host, port), _handler(self))
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def serve(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self, drain_s: float = 30.0) -> None:
        """Stop accepting, let the requests in flight finish (they are acknowledged), close."""
        self.httpd.shutdown()
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=drain_s)
        self.httpd.server_close()

    def handle(self, signal: decode.Signal, headers: Any, body: bytes) -> tuple[bytes, decode.Media]:
        """Decode, flatten and store one request; returns the response body. Raises OtlpRequestError."""
        media = decode.media_type(headers.get("Content-Type"))
        data = decode.inflate(body, headers.get("Content-Encoding"), self.max_body_bytes)
        result = decode.flattened(signal, decode.parse(signal, data, media))
        try:
            self.store.append(signal, result.records)
        except StorageError as exc:
            raise OtlpRequestError(503, f"cannot store the request: {exc}") from exc
        kept = len(result.records)
        self.counters.add(
            requests=1, rejected=result.rejected, **{"spans" if signal == "traces" else "logs": kept}
        )
        if kept and self.on_stored:
            self.on_stored()
        return decode.response(signal, result, media), media

    def authorized(self, header: str | None) -> bool:
        if not self.token:
            return True
        expected = f"Bearer {self.token}".encode()
        return hmac.compare_digest((header or "").strip().encode(), expected)

    def enter(self) -> None:
        with self._idle:
            self._in_flight += 1

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections do not hold the process; stop() drains requests
    allow_reuse_address = True


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lakehouse-otlp"
        # Headers and body leave in two writes: without TCP_NODELAY the client's delayed ACK held every
        # answer with a body (partial success, errors) for ~40 ms on a kept-alive connection (measured).
        disable_nagle_algorithm = True
        timeout = IDLE_TIMEOUT_S

        def do_POST(self) -> None:
            receiver.enter()
            try:
                self._post()
            finally:
                receiver.leave()

        def _post(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in ROUTES:
                return self._refuse(404, f"no such endpoint {path}: POST /v1/traces or /v1/logs", close=True)
            if not receiver.authorized(self.headers.get("Authorization")):
                return self._refuse(401, "a bearer token is required (Authorization: Bearer ...)", close=True)
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return self._refuse(411, "send the body with a Content-Length", close=True)
            try:
                length = int(self.headers.get("Content-Length") or "")
            except ValueError:
                return self._refuse(411, "a Content-Length is required", close=True)
            if length > receiver.max_body_bytes:
                return self._refuse(
                    413, f"the body is larger than {receiver.max_body_bytes} bytes", close=True
                )
            body = self.rfile.read(length)
            try:
                answer, media = receiver.handle(ROUTES[path], self.headers, body)
            except OtlpRequestError as exc:
                return self._refuse(exc.status, str(exc))
            except LakehouseError as exc:
                return self._refuse(500, str(exc))
            except Exception as exc:  # a request we did not foresee: answered, and the receiver goes on
                receiver.report(f"internal error on a request to {path}: {type(exc).__name__}: {exc}")
                return self._refuse(500, f"internal error ({type(exc).__name__}); nothing was stored")
            self._send(200, answer, decode.PROTOBUF if media == "protobuf" else decode.JSON)

        def _not_allowed(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ROUTES:
                self._refuse(
                    405, f"{self.command} is not allowed on {path}: use POST", close=True, allow=True
                )
            else:
                self._refuse(404, f"no such endpoint {path}: POST /v1/traces or /v1/logs", close=True)

        do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed

        def _refuse(self, status: int, message: str, *, close: bool = False, allow: bool = False) -> None:
            receiver.counters.add(refused=1)
            extra = {"Allow": "POST"} if allow else {}
            if status == 401:
                extra["WWW-Authenticate"] = "Bearer"
            if status == 503:
                extra["Retry-After"] = "1"
            self.close_connection = close or self.close_connection
            self._send(status, (message + "\n").encode(), "text/plain; charset=utf-8", extra, close)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            extra: dict[str, str] | None = None,
            close: bool = False,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, header_value in (extra or {}).items():
                self.send_header(name, header_value)
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # no access log: the CLI prints what was received

    return Handler
