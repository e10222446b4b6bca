"""The connection guard (service/connections.py) subclasses uvicorn's private httptools protocol, which any
uvicorn release may change, so pyproject.toml pins uvicorn to the versions this file and test_connections.py
passed on. Checked here without a server, so that a new uvicorn fails by name rather than by a hung or
unguarded connection: every method the guard overrides, with the same arguments; no name the guard adds is
uvicorn's own; and every attribute the guard reads is there, on a protocol that has taken a connection and a
request."""

import ast
import asyncio
import inspect
import textwrap
from collections.abc import Callable
from typing import Any
from unittest.mock import MagicMock

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from camserve.service.connections import GuardedHttpToolsProtocol
from tests.support.aio import run_in_own_loop

OVERRIDDEN = sorted(
    name
    for name, value in vars(GuardedHttpToolsProtocol).items()
    if inspect.isfunction(value) and not name.startswith("_")
)
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: camserve\r\n\r\n"


def names_the_guard_adds() -> list[str]:
    """Its class attributes, the attributes its methods set on the protocol, and its private helpers."""
    guard = ast.parse(textwrap.dedent(inspect.getsource(GuardedHttpToolsProtocol))).body[0]
    assert isinstance(guard, ast.ClassDef)
    names = {s.target.id for s in guard.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
    for node in ast.walk(guard):
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        names |= {t.attr for t in targets if isinstance(t, ast.Attribute) and ast.unparse(t.value) == "self"}
    names |= {name for name in vars(GuardedHttpToolsProtocol) if name.startswith("_") and not name.startswith("__")}
    return sorted(names)


def test_the_guard_overrides_what_it_expects() -> None:
    """A guard that overrides nothing any more would be silently off; this list changes with the guard."""
    assert OVERRIDDEN == [
        "connection_lost",
        "connection_made",
        "data_received",
        "on_body",
        "on_header",
        "on_headers_complete",
        "on_message_complete",
        "on_url",
    ]


@pytest.mark.parametrize("name", OVERRIDDEN)
def test_each_overridden_method_is_uvicorn_s_with_the_same_arguments(name: str) -> None:
    theirs = getattr(HttpToolsProtocol, name, None)
    assert theirs is not None, f"uvicorn's HttpToolsProtocol has no {name} any more: the guard's is never called"
    ours = list(inspect.signature(getattr(GuardedHttpToolsProtocol, name)).parameters)
    assert list(inspect.signature(theirs).parameters) == ours, f"HttpToolsProtocol.{name}'s arguments changed"


async def _ok(scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[dict[str, Any]], Any]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _protocol_after_one_request() -> tuple[HttpToolsProtocol, Any]:
    """uvicorn's own protocol, as the guard sees it: after ``connection_made`` and a request's head, and again
    after the app has answered."""
    config = Config(app=_ok, http="httptools", lifespan="off", log_level="warning")
    protocol = HttpToolsProtocol(config, ServerState(), app_state={}, _loop=asyncio.get_running_loop())
    transport = MagicMock(spec=asyncio.Transport)
    transport.get_extra_info.return_value = None
    transport.is_closing.return_value = False
    protocol.connection_made(transport)
    assert protocol.cycle is None, "HttpToolsProtocol.cycle is no longer None before the first request"
    protocol.data_received(REQUEST)
    cycle = protocol.cycle
    await asyncio.sleep(0.05)  # the app answers
    return protocol, cycle


def test_uvicorn_s_protocol_has_every_attribute_the_guard_reads() -> None:
    protocol, cycle = run_in_own_loop(_protocol_after_one_request())
    assert protocol in protocol.connections, "HttpToolsProtocol.connections no longer holds open connections"
    assert hasattr(protocol.transport, "write"), "HttpToolsProtocol.transport is not the connection's transport"
    assert callable(protocol.loop.call_later), "HttpToolsProtocol.loop is not the event loop"
    assert protocol.flow.read_paused is False, "HttpToolsProtocol.flow.read_paused is gone"
    assert protocol.parser.get_method() == b"GET", "HttpToolsProtocol.parser.get_method is gone"
    for name in ("response_started", "response_complete", "disconnected"):
        assert isinstance(getattr(cycle, name, None), bool), f"RequestResponseCycle.{name} is gone"
    assert cycle.response_complete is True


def test_no_name_the_guard_adds_is_uvicorn_s() -> None:
    """The guard's own attributes and helpers would silently replace uvicorn's of the same name."""
    added = names_the_guard_adds()
    assert {"limits", "metrics", "_head_timer", "_close"} <= set(added)  # the source is read as meant
    protocol, _ = run_in_own_loop(_protocol_after_one_request())
    assert [name for name in added if hasattr(protocol, name)] == [], "uvicorn's HttpToolsProtocol has these too"
