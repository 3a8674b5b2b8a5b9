"""httpx's transport for the gateway's many small calls, on a leaner socket layer.

An ``httpx`` transport (httpx's own extension point: requests in, responses out, httpx's exceptions).
A gateway reached directly is spoken to over one keep-alive connection per thread, its HTTP/1.1 done by
``h11`` (the protocol library httpcore itself uses) without httpcore's connection pool around it: the
pool's bookkeeping (its request queue, events, locks and per-request tracing, for the many
connections a thread here never has) was a third of a call's CPU, 0.34 -> 0.22 ms a call measured on
the load benchmark's stub. A gateway behind a plain ``http://`` proxy goes through httpcore's
``HTTPProxy`` (forwarding and tunnels are its business); one behind an ``https://`` proxy uses
``httpx.HTTPTransport`` itself. Both lean paths share a network stream of our own (httpcore's
``network_backend`` hook) that differs from httpcore's where the load benchmark measured a call
costing 11 system calls, each a GIL hand-off:

* the socket's timeout is set only when it changes (httpcore sets it before every send and every
  receive: an ``ioctl`` each time), and
* what a request writes (its head, then its body) is sent in one ``sendall`` when the response is
  first read, instead of one send per part, and
* a plain TCP socket stays in blocking mode with its timeouts in the kernel (``SO_RCVTIMEO`` and
  ``SO_SNDTIMEO``, which fail a send or receive that waits longer with ``EAGAIN``): a Python socket
  with a timeout polls before every send and every receive, one more system call each. TLS sockets
  keep Python's timeouts (a TLS read may need several reads of the socket).
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import typing

import h11
import httpcore
import httpx

# httpcore's exceptions as httpx raises them (what httpx.HTTPTransport does); the first match wins.
_EXCEPTIONS: list[tuple[type[Exception], type[httpx.HTTPError]]] = [
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (h11.RemoteProtocolError, httpx.RemoteProtocolError),  # what the direct connection's h11 raises
    (h11.LocalProtocolError, httpx.LocalProtocolError),
]
READ_SIZE = 64 * 1024


class LeanTransport(httpx.BaseTransport):
    """One keep-alive connection (directly, or through a plain HTTP proxy) for one thread's calls."""

    def __init__(self, ssl_context: ssl.SSLContext, proxy: str | None = None) -> None:
        self._direct: _Connection | None = None
        self._pool: httpcore.HTTPProxy | None = None
        if proxy is None:
            self._direct = _Connection(ssl_context)
        else:
            parsed = httpx.Proxy(proxy)  # httpx's reading of the URL, credentials included
            self._pool = httpcore.HTTPProxy(
                proxy_url=_core_url(parsed.url),
                proxy_auth=parsed.raw_auth,
                ssl_context=ssl_context,
                max_connections=1,
                max_keepalive_connections=1,
                network_backend=_Backend(),
            )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            if self._direct is not None:
                return self._direct.exchange(request)
            return self._through_proxy(request)
        except Exception as exc:
            for core, mapped in _EXCEPTIONS:
                if isinstance(exc, core):
                    raise mapped(str(exc), request=request) from exc
            raise

    def _through_proxy(self, request: httpx.Request) -> httpx.Response:
        assert self._pool is not None
        core_request = httpcore.Request(
            method=request.method,
            url=_core_url(request.url),
            headers=request.headers.raw,
            content=request.content,
            extensions=request.extensions,
        )
        response = self._pool.handle_request(core_request)
        try:
            content = response.read()
        finally:
            response.close()  # the connection back to the pool, or dropped after a failure
        return httpx.Response(
            status_code=response.status, headers=response.headers, content=content, request=request
        )

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
        if self._pool is not None:
            self._pool.close()


class _Connection:
    """One keep-alive HTTP/1.1 connection to the origin of the last request, made when first needed;
    a connection the server closed (or wrote to) while idle is not reused, and one that failed is dropped."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self._stream: _Stream | None = None
        self._origin: tuple[bytes, bytes, int | None] | None = None
        self._h11 = h11.Connection(h11.CLIENT)

    def exchange(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port)
        if self._stream is not None and (
            origin != self._origin or self._stream.get_extra_info("is_readable")
        ):
            self.close()
        if self._stream is None:
            self._stream = self._connect(url, timeouts.get("connect"))
            self._origin, self._h11 = origin, h11.Connection(h11.CLIENT)
        try:
            response = self._send_and_receive(request, self._stream, timeouts)
        except BaseException:
            self.close()
            raise
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
        else:  # the server said it closes, or answered before reading the whole request
            self.close()
        return response

    def _connect(self, url: httpx.URL, timeout: float | None) -> _Stream:
        host = url.raw_host.decode("ascii")
        tls = url.raw_scheme == b"https"
        stream = _Backend().connect_tcp(host, url.port or (443 if tls else 80), timeout)
        return stream.start_tls(self._ssl_context, server_hostname=host, timeout=timeout) if tls else stream

    def _send_and_receive(
        self, request: httpx.Request, stream: _Stream, timeouts: dict[str, float | None]
    ) -> httpx.Response:
        connection = self._h11
        head = h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw)
        body = request.content
        stream.write(
            connection.send(head)
            + (connection.send(h11.Data(data=body)) if body else b"")
            + connection.send(h11.EndOfMessage()),
            timeouts.get("write"),
        )
        answer: h11.Response | None = None
        chunks: list[bytes] = []
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = stream.read(READ_SIZE, timeouts.get("read"))
                if not data and connection.their_state is h11.SEND_RESPONSE:
                    raise httpcore.RemoteProtocolError("Server disconnected without sending a response.")
                connection.receive_data(data)
            elif isinstance(event, h11.Response):
                answer = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise httpcore.RemoteProtocolError("Server disconnected before the response ended.")
            # h11.InformationalResponse (1xx): wait for the final answer
        assert answer is not None
        return httpx.Response(
            status_code=answer.status_code,
            headers=answer.headers.raw_items(),
            content=b"".join(chunks),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason},
        )

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = self._origin = None


def _core_url(url: httpx.URL) -> httpcore.URL:
    return httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)


def usable_for(proxy: str | None) -> bool:
    """Whether the lean transport can carry calls through ``proxy`` (none, or a plain HTTP one)."""
    return proxy is None or proxy.lower().startswith("http://")


class _Backend(httpcore.SyncBackend):
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream.get_extra_info("socket"), timeout)


class _Stream(httpcore.NetworkStream):
    """A connected socket: writes held until the next read, the timeout set only when it changes."""

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        self._sock = sock
        self._pending: list[bytes] = []
        self._write_timeout: float | None = None
        self._kernel_timeouts = not isinstance(sock, ssl.SSLSocket) and _kernel_timeouts(sock, timeout)
        self._timeout = timeout  # what the socket waits for now

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._pending.append(bytes(buffer))
            self._write_timeout = timeout

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._flush()
        try:
            self._set_timeout(timeout)
            return self._sock.recv(max_bytes)
        except (TimeoutError, BlockingIOError) as exc:  # BlockingIOError: SO_RCVTIMEO ran out
            raise httpcore.ReadTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ReadError(exc) from exc

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._flush()
        try:
            if self._kernel_timeouts:  # back to Python's timeouts, which the TLS layer expects
                _kernel_timeouts(self._sock, None)
                self._kernel_timeouts = False
                self._timeout = None
            self._set_timeout(timeout)
            tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except TimeoutError as exc:
            self.close()
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:  # ssl.SSLError included: a certificate not trusted, say
            self.close()
            raise httpcore.ConnectError(exc) from exc
        return _Stream(tls, timeout)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "ssl_object":
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":  # a kept-alive connection the server has closed (or wrote to) is not reused
            if self._sock.fileno() < 0:
                return True
            poller = select.poll()
            poller.register(self._sock, select.POLLIN)
            return bool(poller.poll(0))
        return None

    def _set_timeout(self, timeout: float | None) -> None:
        if timeout != self._timeout:
            if self._kernel_timeouts:
                _kernel_timeouts(self._sock, timeout)
            else:
                self._sock.settimeout(timeout)
            self._timeout = timeout

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        try:
            self._set_timeout(self._write_timeout)
            self._sock.sendall(data)
        except (TimeoutError, BlockingIOError) as exc:  # BlockingIOError: SO_SNDTIMEO ran out
            raise httpcore.WriteTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.WriteError(exc) from exc


def _kernel_timeouts(sock: socket.socket, timeout: float | None) -> bool:
    """Put ``sock`` in blocking mode with ``timeout`` (None: none) on each send and receive, kept by the
    kernel; False (the socket left as it was) where the system refuses."""
    # A struct timeval; 0 means no timeout, so a timeout of 0 becomes the shortest one (1 microsecond).
    micros = 0 if timeout is None else max(round(timeout * 1_000_000), 1)
    value = struct.pack("@ll", micros // 1_000_000, micros % 1_000_000)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    except OSError:
        return False
    sock.settimeout(None)
    return True
