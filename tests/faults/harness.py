"""Real RadBook processes for the fault tests: start, ``kill -9``, start again on the same port.

Each service is the command an operator runs (docs/deploy.md): gunicorn for the web app,
``flask --app wsgi worklist serve``, ``hl7 serve`` and ``jobs run``, in its own process
group so that a kill takes the whole service (gunicorn's master and its workers) at once,
the way a power cut or the OOM killer would. The benchmark (``benchmarks/faults.py``)
uses the same helpers with more load.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from scheduling import clock

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    condition: Callable[[], object],
    timeout: float = 60.0,
    what: str = "condition",
    interval: float = 0.05,
):
    """Poll ``condition`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(port: int) -> bool:
    """The login page answers (gunicorn listens before its workers have loaded the app)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/login")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # The test run's own settings must not leak into the service (it reads DATABASE_URL).
    env.pop("TEST_DATABASE_URL", None)
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY="faults-test-secret",
        RADBOOK_INSECURE_COOKIES="1",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        # The service's clock runs where the test's does (scheduling.clock).
        RADBOOK_CLOCK_OFFSET_SECONDS=repr(clock.offset_seconds()),
    )
    env.update(extra)
    return env


class Service:
    """One RadBook process (group) on a fixed port, started again after each kill."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        port: int | None,
        log_dir: Path,
        ready: Callable[[int], bool] | None = None,
    ):
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.log_dir = log_dir
        self.ready = ready or port_open
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.starts}.log"

    def start(self, timeout: float = 90.0) -> Service:
        self.starts += 1
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if self.port is not None:
            wait_for(
                lambda: self._alive() and self.ready(self.port),
                timeout,
                f"{self.name} to answer on {self.port}",
            )
        return self

    def _alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}:\n"
                + self.log_path.read_text(errors="replace")[-3000:]
            )
        return True

    def kill9(self) -> None:
        """SIGKILL to the whole process group: no handler, no cleanup, no flush."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1
        self._reap_group()

    def _reap_group(self) -> None:
        # gunicorn's workers are killed with their master; wait until none is left
        # holding the port or a database connection.
        pgid = self.proc.pid

        def group_gone() -> bool:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_for(group_gone, 30, f"{self.name}'s processes to end")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass

    def log_text(self) -> str:
        return "\n".join(
            (self.log_dir / f"{self.name}-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
        )


def flask_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def web_service(
    database_url: str, log_dir: Path, port: int | None = None, workers: int = 2, **env: str
) -> Service:
    port = port or free_port()
    argv = [
        str(BIN / "gunicorn"),
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "2",
        # gunicorn 23+ opens a control socket in ~/.gunicorn by default: one per user,
        # so two servers would fight over it.
        "--no-control-socket",
        "wsgi:app",
    ]
    return Service("web", argv, service_env(database_url, **env), port, log_dir, http_ok)


def dicom_service(database_url: str, log_dir: Path, port: int | None = None, **env: str) -> Service:
    port = port or free_port()
    argv = flask_argv("worklist", "serve", "--host", "127.0.0.1", "--port", str(port))
    return Service(
        "dicom",
        argv,
        service_env(database_url, DICOM_DEVICE_REFRESH_SECONDS="1", **env),
        port,
        log_dir,
    )


def hl7_service(database_url: str, log_dir: Path, port: int | None = None, **env: str) -> Service:
    port = port or free_port()
    argv = flask_argv("hl7", "serve", "--host", "127.0.0.1", "--port", str(port))
    return Service("hl7", argv, service_env(database_url, **env), port, log_dir)


def jobs_service(database_url: str, log_dir: Path, **env: str) -> Service:
    return Service(
        "jobs", flask_argv("jobs", "run"), service_env(database_url, **env), None, log_dir
    )
