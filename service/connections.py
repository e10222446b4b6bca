"""Guards on the HTTP connection itself, below the app: a bounded request head, deadlines for slow clients,
and a cap on open connections.

uvicorn reads a request head of any size, gives it no deadline, and with ``limit_concurrency`` answers 503 to
every client, established ones included, once the cap is reached. So the server runs this thin subclass of its
httptools protocol, which keeps uvicorn's parsing and only adds the checks:

- the head (request line and headers) may hold ``max_head_bytes``; past that the client gets 431 and the
  connection closes, so nothing more is read or kept;
- a new connection must deliver its head within ``head_timeout_s``, and so must each later request on it from
  its first byte (idle keep-alive connections still close after ``keep_alive_s``, as before);
- a body must arrive at ``body_min_bytes_per_s`` on average once ``body_grace_s`` have passed (time the server
  itself stops reading, for back-pressure, is not held against the client);
- past ``max_connections`` open connections, a new one gets an immediate 503 and is closed, while the
  established ones go on being served.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from camserve.service.headers import EVERY_RESPONSE
from camserve.service.metrics import Closed, Metrics

BODY_CHECK_INTERVAL_S = 1.0
RETRY_AFTER_S = "1"


@dataclass(frozen=True)
class ConnectionLimits:
    max_head_bytes: int
    head_timeout_s: float
    body_min_bytes_per_s: float
    body_grace_s: float
    max_connections: int


_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response with a JSON body like the app's errors, ending the connection."""
    body = b'{"detail":"' + message.encode("ascii") + b'"}'
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS[status]), b"content-type: application/json"]
    lines += [b"content-length: %d" % len(body), b"connection: close"]
    lines += [b"%s: %s" % header for header in EVERY_RESPONSE]
    lines += [f"{name}: {value}".encode("ascii") for name, value in (headers or {}).items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above; ``guarded_protocol`` binds the limits and metrics."""

    limits: ConnectionLimits
    metrics: Metrics

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.metrics.open_connections.inc()
        self._awaiting_head = True
        self._head_bytes = 0
        self._parsed_head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_started = 0.0
        self._body_bytes = 0
        if len(self.connections) > self.limits.max_connections:
            busy = "the server has too many open connections; try again shortly"
            self._close(Closed.over_capacity, _refusal(503, busy, {"retry-after": RETRY_AFTER_S}))
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.metrics.open_connections.dec()
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._awaiting_head:
            if self._head_timer is None:  # the first byte of a later request on a kept-alive connection
                self._arm_head_timer()
            self._head_bytes += len(data)
        super().data_received(data)
        if self._awaiting_head and self._head_bytes > self.limits.max_head_bytes and not self.transport.is_closing():
            self._refuse_large_head()

    def _refuse_large_head(self) -> None:
        limit = self.limits.max_head_bytes
        self._close(Closed.head_too_large, _refusal(431, f"the request head is larger than {limit} bytes"))

    def on_url(self, url: bytes) -> None:
        self._parsed_head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_head_bytes += len(name) + len(value) + len(b": \r\n")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """A head that came whole in one read is complete before ``data_received`` can count it: its size is
        checked here, from what the parser saw, before the app hears of the request."""
        method = self.parser.get_method()
        parsed = self._parsed_head_bytes + len(method) + len(b"  HTTP/1.1\r\n\r\n")
        self._parsed_head_bytes = 0
        if parsed > self.limits.max_head_bytes:
            self._refuse_large_head()
            return
        self._awaiting_head = False
        self._head_bytes = 0
        self._cancel_timers()
        self._body_started = time.monotonic()
        self._body_bytes = 0
        self._body_timer = self.loop.call_later(self.limits.body_grace_s, self._check_body_rate)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.transport.is_closing():  # refused: the rest of what came in the same read goes nowhere
            return
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The request is in: whatever the client sends next is the next request's head."""
        if self.transport.is_closing():
            return
        self._cancel_timers()
        self._awaiting_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self.transport.is_closing():
            return
        seconds = self.limits.head_timeout_s
        # A connection that sent nothing (a browser's preconnect) is closed quietly; a partial head hears why.
        answer = _refusal(408, f"the request head did not arrive within {seconds:g} s") if self._head_bytes else b""
        self._close(Closed.head_timeout, answer)

    def _check_body_rate(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.cycle is None or self.cycle.response_started:
            return
        now = time.monotonic()
        if self.flow.read_paused:  # the server stopped reading: restart the clock when it reads again
            self._body_started, self._body_bytes = now, 0
        elif self._body_bytes < self.limits.body_min_bytes_per_s * (now - self._body_started):
            rate = self.limits.body_min_bytes_per_s
            self._close(Closed.body_too_slow, _refusal(408, f"the request body arrived slower than {rate:g} bytes/s"))
            return
        self._body_timer = self.loop.call_later(BODY_CHECK_INTERVAL_S, self._check_body_rate)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _close(self, reason: Closed, answer: bytes) -> None:
        self.metrics.connections_closed.labels(reason.value).inc()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's receive() sees the client gone
        if answer:
            self.transport.write(answer)
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits, metrics: Metrics) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give ``uvicorn.run(http=...)``, bound to these limits and this app's metrics."""
    attributes: dict[str, Any] = {"limits": limits, "metrics": metrics}
    return type("CamserveHttpProtocol", (GuardedHttpToolsProtocol,), attributes)
