"""A tiny HTTP/1.1 server on a loopback port for wrk to drive: it keeps connections alive, answers uploads with
the statuses it is given in turn (0: closes the connection unanswered), keeps every body and header it
receives, and counts each upload in /metrics as camserve would."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORWARD_S = 0.01  # what each upload adds to the fake forward seconds


@dataclass
class Received:
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def metrics(self) -> str:
        """Every upload as a forward of a batch of 2, as camserve's histograms would count it."""
        uploads = len(self.bodies)
        return (
            "# TYPE camserve_inference_batch_size histogram\n"
            f"camserve_inference_batch_size_count {uploads}\n"
            f"camserve_inference_batch_size_sum {2 * uploads}\n"
            "# TYPE camserve_inference_seconds histogram\n"
            f"camserve_inference_seconds_sum {FORWARD_S * uploads}\n"
        )


def handler(received: Received, statuses: tuple[int, ...]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # kept-alive connections, as wrk expects

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with received.lock:
                received.bodies.append(body)
                received.headers.append(dict(self.headers))
                status = statuses[len(received.bodies) % len(statuses)]
            if status:
                self.answer(status, b"{}")
            else:
                self.close_connection = True

        def do_GET(self) -> None:
            self.answer(200, received.metrics().encode())

        def answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            """Quiet: wrk sends thousands."""

    return Handler


@contextmanager
def serving(statuses: tuple[int, ...] = (201, 503)) -> Iterator[tuple[str, Received]]:
    """The server's URL and what it received; it answers ``statuses`` in turn."""
    received = Received()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(received, statuses))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
