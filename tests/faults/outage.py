"""A database that goes away and comes back, without touching the shared PostgreSQL server.

- PostgreSQL: the app connects through ``TcpProxy``, a small TCP relay in the test.
  ``cut()`` closes every relayed connection and stops listening (the app sees what a
  crashed or restarting server looks like: broken connections, then "connection
  refused"); ``restore()`` listens again on the same port.
- SQLite: the app opens the database file through a directory symlink, read-write
  without create (``mode=rw``). ``cut()`` removes the symlink (the volume is gone: "unable
  to open database file") and drops the app's pooled connections, which would otherwise
  keep their open file; ``restore()`` puts the symlink back.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url


class TcpProxy:
    def __init__(self, target: tuple[str, int], port: int = 0):
        self.target = target
        self.port = port
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up = False

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self.up = True
        threading.Thread(
            target=self._accept, args=(listener,), daemon=True, name="db-proxy"
        ).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if not self.up:
                    client.close()
                    upstream.close()
                    return
                self._connections.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._connections.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()

    def cut(self) -> None:
        with self._lock:
            self.up = False
            connections = list(self._connections)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for s in connections:
            self._close(s)

    def restore(self) -> None:
        self.start()

    def stop(self) -> None:
        self.cut()


class Outage:
    """``url`` is what the app under test connects to; ``cut()``/``restore()`` the database."""

    def __init__(self, database_url: str, workdir: Path):
        url = make_url(database_url)
        self.dispose: Callable[[], None] = lambda: None  # set to the app's engine.dispose
        if url.get_backend_name() == "postgresql":
            self.proxy: TcpProxy | None = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
            self.proxy.start()
            self.url = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
                hide_password=False
            )
            self._link = None
        else:
            self.proxy = None
            real = Path(url.database).resolve()
            self._link = workdir / "database-volume"
            self._target = real.parent
            self._link.symlink_to(self._target, target_is_directory=True)
            self.url = f"sqlite:///file:{self._link / real.name}?mode=rw&uri=true"

    def cut(self) -> None:
        if self.proxy is not None:
            self.proxy.cut()
        else:
            os.unlink(self._link)
            self.dispose()

    def restore(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
        else:
            self._link.symlink_to(self._target, target_is_directory=True)

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        elif not self._link.exists():
            self.restore()
