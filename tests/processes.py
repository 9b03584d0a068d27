"""Servers as real processes, for the tests and the benchmark: a free port, a wait for it to
listen, and starting and stopping the server with its output in a log file.

Only the standard library, on purpose: ``bench`` uses this too and runs with the runtime
dependencies alone (no pytest).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

HOST = "127.0.0.1"
START_SECONDS = 20.0  # for a server process to listen
STOP_SECONDS = 15.0  # for a server process to exit after SIGTERM, before SIGKILL


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = START_SECONDS, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBRAIN_")}
    # Servers started by tests take free ports for mail and the web view, never the 8025 and
    # 8767 of a real one, and work reputation out often, so tests need not wait.
    env.update(
        {
            "CLOUDBRAIN_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "CLOUDBRAIN_SMTP_PORT": "0",
            "CLOUDBRAIN_HTTP_PORT": "0",
            "CLOUDBRAIN_REPUTATION_EVERY": "0.2",
        },
        **extra,
    )
    return env


class ListeningProcess:
    """A program that serves on the port given as ``--port``, run as a real process with its
    output in ``log``; ``with`` starts it and stops it on the way out."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        port: int | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv, self.env, self.log, self.cwd = list(argv), dict(env), log, cwd
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Self:
        """Start the process and return once it listens; if it does not, stop it and raise,
        with the end of its log attached to the error."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.argv, "--port", str(self.port)],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(self.port, process=self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            exc.add_note(f"{' '.join(self.argv)}: its log ends with:\n{self.log_tail()}")
            raise
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


class ServerProcess(ListeningProcess):
    """``cloudbrain server`` as a real process, for tests that kill it or use the CLI, and for
    the benchmark. ``extra_env`` adds to or overrides the server's environment (rate limits,
    log level, ...)."""

    def __init__(
        self,
        home: Path,
        db_url: str,
        port: int | None = None,
        log: Path | None = None,
        *,
        node: str = "test-node",
        extra_env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.home, self.db_url = home, db_url
        port = port or free_port()
        env = {
            "CLOUDBRAIN_DATABASE_URL": db_url,
            "CLOUDBRAIN_LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        super().__init__(
            [sys.executable, "-m", "cloudbrain", "server", "--node", node],
            cli_env(home, **env),
            log or home / f"server-{port}.log",
            port,
            cwd,
        )

    def start(self) -> Self:
        self.home.mkdir(parents=True, exist_ok=True)
        return super().start()


class RedisProcess(ListeningProcess):
    """``redis-server`` of one's own on a free port (to stop and restart at will, and to leave
    the machine's shared Redis alone), keeping nothing on disk."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        argv = [binary, "--bind", HOST, "--save", "", "--appendonly", "no"]
        folder.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "")}
        super().__init__(argv, env, folder / "redis.log", port, folder)

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"
