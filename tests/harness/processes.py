"""Start the platform's own processes (``p2kp run`` / ``p2kp serve``) for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.harness import die_with_parent, free_port

P2KP = Path(sys.executable).with_name("p2kp")


class PlatformProcess:
    def __init__(self, args: list[str], env: dict[str, str], log: Path, ready_path: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._ready_path = ready_path
        self._handle = log.open("wb")
        self.proc = subprocess.Popen(
            [str(P2KP), *args, "--port", str(self.port)],
            # No demo seeding unless a test asks for it: the tests expect an empty platform.
            env={**os.environ, "P2KP_DEMO_SEED": "false", **env},
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll the readiness endpoint (not a guess: the process says when it serves)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.base + self._ready_path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"not ready after {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL, and reap it: no shutdown code runs."""
        self.proc.kill()
        self.proc.wait()
        self._handle.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._handle.close()


@contextmanager
def platform_process(
    args: list[str], env: dict[str, str], log: Path, ready_path: str = "/health"
) -> Iterator[PlatformProcess]:
    process = PlatformProcess(args, env, log, ready_path)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()
