"""httpx's transport for the gateway's many small calls, on a leaner socket layer.

An ``httpx`` transport (httpx's own extension point: requests in, responses out, httpx's exceptions)
over an ``httpcore`` connection pool, as ``httpx.HTTPTransport`` is, with a network backend of our
own (httpcore's ``network_backend`` hook). Its stream differs from httpcore's in two ways, measured
under the load benchmark where a call cost 11 system calls, each a GIL hand-off:

* the socket's timeout is set only when it changes (httpcore sets it before every send and every
  receive: an ``ioctl`` each time), and
* what a request writes (its head, then its body) is sent in one ``sendall`` when the response is
  first read, instead of one send per part, and
* a plain TCP socket stays in blocking mode with its timeouts in the kernel (``SO_RCVTIMEO`` and
  ``SO_SNDTIMEO``, which fail a send or receive that waits longer with ``EAGAIN``): a Python socket
  with a timeout polls before every send and every receive, one more system call each. TLS sockets
  keep Python's timeouts (a TLS read may need several reads of the socket).

Used for a gateway reached directly or through a plain ``http://`` proxy; a gateway behind an
``https://`` proxy uses ``httpx.HTTPTransport`` itself (TLS inside TLS is httpcore's own business).
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import typing

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
]


class LeanTransport(httpx.BaseTransport):
    """One keep-alive connection (directly, or through a plain HTTP proxy) for one thread's calls."""

    def __init__(self, ssl_context: ssl.SSLContext, proxy: str | None = None) -> None:
        options: dict[str, typing.Any] = {
            "ssl_context": ssl_context,
            "max_connections": 1,
            "max_keepalive_connections": 1,
            "network_backend": _Backend(),
        }
        if proxy is None:
            self._pool: httpcore.ConnectionPool = httpcore.ConnectionPool(**options)
        else:
            parsed = httpx.Proxy(proxy)  # httpx's reading of the URL, credentials included
            self._pool = httpcore.HTTPProxy(
                proxy_url=_core_url(parsed.url), proxy_auth=parsed.raw_auth, **options
            )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=_core_url(request.url),
            headers=request.headers.raw,
            content=request.content,
            extensions=request.extensions,
        )
        try:
            response = self._pool.handle_request(core_request)
            try:
                content = response.read()
            finally:
                response.close()  # the connection back to the pool, or dropped after a failure
        except Exception as exc:
            for core, mapped in _EXCEPTIONS:
                if isinstance(exc, core):
                    raise mapped(str(exc), request=request) from exc
            raise
        return httpx.Response(
            status_code=response.status, headers=response.headers, content=content, request=request
        )

    def close(self) -> None:
        self._pool.close()


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
