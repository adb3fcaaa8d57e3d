"""Associations that wait for work instead of polling for it (issue 19).

pynetdicom runs two threads per association, and both poll while it is open: the DUL
(network) thread sleeps 1 ms between looks at its queues and a zero-timeout
``select``; the association thread sleeps 1 ms between looks at the DIMSE queue. On
this machine that was about 0.1 s of CPU per second per open association, counted
in every worklist query, and each hand-over between the two threads waited for the
other's next tick.

RadBook's server hands every accepted connection an association whose two threads
block until there is something to do, with pynetdicom's own loops left as they are:

* the DUL waits in ``select`` on the socket and on a wake-up pipe that is written
  whenever the association queues a PDU to send (or stops the DUL), for at most
  ``IDLE_WAIT`` (and never past a running ARTIM timer);
* the association thread's reactor checkpoint (the event its loop waits on every
  turn, which pynetdicom uses to pause it) also waits until the DUL hands it a DIMSE
  message or an A-RELEASE/A-ABORT, or ``IDLE_WAIT`` passes (so the network timeout
  and a dead DUL are still noticed).

Nothing of pynetdicom is patched: the objects of one association get these
subclasses (``EventDrivenRequestHandler._create_association``).
"""

from __future__ import annotations

import queue
import select
import socket
import ssl
import threading
import time
from typing import Any

from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider
from pynetdicom.transport import RequestHandler

from worklist.fastfind import FastFinalDIMSE

# The longest either thread sleeps with nothing to do: the resolution of the network
# timeout and of noticing a DUL that died. Work wakes them at once.
IDLE_WAIT = 0.05


class _WakingQueue(queue.Queue):
    """A queue that calls ``wake`` after every put (and after a get that leaves items,
    so a consumer that takes one item per wake-up never sleeps on a full queue)."""

    def __init__(self, wake) -> None:
        super().__init__()
        self._wake = wake

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._wake()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        item = super().get(block, timeout)
        if self.qsize():
            self._wake()
        return item


class _Checkpoint:
    """Stands in for ``Association._reactor_checkpoint`` (a ``threading.Event``).

    ``set``/``clear`` still open and close the gate that pauses the reactor; ``wait``
    additionally returns only when woken (``wake``) or after ``IDLE_WAIT``.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._open = True
        self._woken = False

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        with self._cond:
            self._open = self._woken = True
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._open = False

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            deadline = time.monotonic() + IDLE_WAIT
            while not (self._open and self._woken):
                if not self._open:  # paused: as an Event, until set (or the timeout)
                    if not self._cond.wait(timeout) and timeout is not None:
                        return False
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._woken = False
            return True


class EventDrivenDUL(DULServiceProvider):
    """pynetdicom's DUL whose idle turns block in ``select`` instead of sleeping."""

    def _setup_wake(self) -> None:
        # Socket objects, not raw descriptors: a late wake() after close() fails on the
        # closed object instead of writing to whatever reused the descriptor number.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._run_loop_delay = 0  # the waiting is done in _is_transport_event
        self.to_provider_queue = _WakingQueue(self.wake)

    def wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # a wake-up is pending already (buffer full), or closed
            pass

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._wake_r.close()
            self._wake_w.close()

    def stop_dul(self) -> bool:
        # pynetdicom's waits for the thread in a loop of _run_loop_delay (0 here).
        if self.state_machine.current_state != "Sta1":
            return False
        self._kill_thread = True
        self.wake()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()
        return True

    def _is_transport_event(self) -> bool:
        # Reached only when no primitive waits to be sent (pynetdicom checks those first).
        if self.event_queue.empty() and self.to_provider_queue.empty() and not self._kill_thread:
            self._wait_for_work()
        return super()._is_transport_event()

    def _wait_for_work(self) -> None:
        wrapper = self.socket
        sock = getattr(wrapper, "socket", None)
        if sock is None or not getattr(wrapper, "_is_connected", False):
            time.sleep(0.001)  # pynetdicom's own pace while no connection is open
            return
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return
        timeout = IDLE_WAIT
        artim = self.artim_timer
        if artim._start_time is not None and artim._end_time is None and artim.timeout:
            timeout = max(0.0, min(timeout, artim.remaining))
        try:
            ready, _, _ = select.select([sock, self._wake_r], [], [], timeout)
        except (OSError, ValueError):
            return  # the socket has gone: pynetdicom's own check reports it
        if self._wake_r in ready:
            try:
                while self._wake_r.recv(4096):
                    pass
            except OSError:  # drained
                pass


class EventDrivenAssociation(Association):
    """Marks an association whose threads wait for work (see the module's docstring)."""

    def _setup_wake(self) -> None:
        checkpoint = _Checkpoint()
        self._reactor_checkpoint = checkpoint  # type: ignore[assignment]
        self.dimse.msg_queue = _WakingQueue(checkpoint.wake)
        self.dul.to_user_queue = _WakingQueue(checkpoint.wake)
        self.dul._setup_wake()


class EventDrivenRequestHandler(RequestHandler):
    def _create_association(self) -> Association:
        assoc = super()._create_association()
        # Same objects, same state: only their classes gain the waiting (no new fields
        # but the queues, the checkpoint and the wake-up pipe set up here, before start).
        assoc.__class__ = EventDrivenAssociation
        assoc.dul.__class__ = EventDrivenDUL
        assoc.dimse.__class__ = FastFinalDIMSE  # the final C-FIND-RSP pre-encoded too
        assoc._setup_wake()
        return assoc
