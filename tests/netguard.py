"""Prove that code made no network connection, with an audit hook (no patching)."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_state = threading.local()
_installed = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or not getattr(_state, "active", False):
        return
    sock, address = args[0], args[1]
    if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
        _state.seen.append(address)


@contextmanager
def no_network() -> Iterator[list[Any]]:
    """Collects every TCP/IP connect made by this thread; the caller asserts it stays empty."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    _state.active, _state.seen = True, []
    try:
        yield _state.seen
    finally:
        _state.active = False
