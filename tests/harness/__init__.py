"""Launchers for the real services the integration tests need (PostgreSQL, Kafka) and their shared helpers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class ServiceUnavailable(RuntimeError):
    """No way to provide a service (no env URL, no Docker engine, no local server binaries)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    The coroutine runs on a fresh event loop in a worker thread, so this also works when the caller is
    itself inside a running loop (an async test or fixture), where asyncio.run() would refuse.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


# Loaded up front: the preexec_fn below runs between fork and exec, where it should do as little as possible.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: have the kernel SIGTERM the child when pytest dies, so a crash leaves no JVM behind."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def docker_engine_answers() -> bool:
    """True when a Docker engine answers a ping; a client-only `docker` CLI is not enough (§3)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False
