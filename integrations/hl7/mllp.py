"""MLLP (HL7 Minimal Lower Layer Protocol): framing, the asyncio listener, a blocking sender.

A block is ``<VT> message <FS><CR>``. The listener reads each connection in order (a
sender waits for the ACK before the next message), hands every complete block to a
thread pool, because the database work is synchronous SQLAlchemy, and writes back
the ACK that the worker returns. With a ``batch_handler`` (group commit), the blocks
of all connections queue up while the previous group is being stored, and are handed
over together, one group at a time: each connection still has at most one block in
flight and gets its answers in order. Blocks larger than the limit are discarded as they
stream in (only their head is kept, to answer AR with the right MSA-2).

What one caller can hold is bounded: at most ``max_connections`` connections (more are
closed at once), at most ``max_message_bytes`` of unfinished data on each, a block
must be complete within ``block_timeout`` seconds of its start, and a connection with
nothing to say for ``idle_timeout`` seconds is closed. A closed connection's buffers
are freed and, after a large one, the C allocator is asked to hand the memory back to
the system (glibc keeps freed blocks otherwise).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
BLOCK_END = END_BLOCK + CARRIAGE_RETURN

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024  # a long report with OBX lines fits many times
HEAD_BYTES = 4096  # what is kept of an oversized block: enough for the MSH
DEFAULT_MAX_CONNECTIONS = 32  # a hub has a handful of HIS, RIS and PACS connections
DEFAULT_IDLE_TIMEOUT = 600.0  # seconds without a byte before an idle connection is closed
DEFAULT_BLOCK_TIMEOUT = 60.0  # seconds from a block's start to its end
TRIM_AFTER_BYTES = 256 * 1024  # a connection that held this much returns memory on close


def frame(payload: bytes) -> bytes:
    return START_BLOCK + payload + BLOCK_END


@dataclass(frozen=True)
class Block:
    """One block taken off the wire.

    ``oversized``: longer than the limit; ``data`` is only its head.
    ``truncated``: interrupted (a new start block, or the connection closed) before its end.
    """

    data: bytes
    oversized: bool = False
    truncated: bool = False


class Deframer:
    """Incremental MLLP block reader: ``feed(bytes)`` returns the blocks completed so far."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._in_block = False
        self._discarding = False  # inside an oversized block, waiting for its end
        self._head = b""
        self._scan_from = 0
        self.peak = 0  # most bytes held at once (to decide whether to trim on close)

    @property
    def in_block(self) -> bool:
        """A block has started and not ended yet."""
        return self._in_block

    def release(self) -> None:
        """Drop whatever is buffered (the connection is closing)."""
        self._buf = bytearray()
        self._head = b""
        self._in_block = self._discarding = False

    def feed(self, data: bytes) -> list[Block]:
        blocks: list[Block] = []
        self._buf += data
        self.peak = max(self.peak, len(self._buf))
        while True:
            if not self._in_block:
                start = self._buf.find(START_BLOCK)
                if start < 0:
                    # Bytes between blocks (keep-alive newlines, noise) are not messages.
                    self._buf.clear()
                    return blocks
                del self._buf[: start + 1]
                self._in_block, self._scan_from = True, 0
            end = self._buf.find(BLOCK_END, self._scan_from)
            restart = self._buf.find(START_BLOCK, 0, end if end >= 0 else len(self._buf))
            if restart >= 0:
                # A new block began before this one ended: the sender gave up on it.
                blocks.append(self._take(restart, truncated=True))
                del self._buf[:restart]
                self._in_block = False
                continue
            if end < 0:
                if self._discarding:
                    keep = self._buf[-1:] if self._buf.endswith(END_BLOCK) else b""
                    self._buf = bytearray(keep)
                elif len(self._buf) > self.max_bytes:
                    self._head = bytes(self._buf[:HEAD_BYTES])
                    self._discarding = True
                    self._buf = bytearray(self._buf[-1:] if self._buf.endswith(END_BLOCK) else b"")
                # Next search starts just before the end, in case FS arrived alone.
                self._scan_from = max(0, len(self._buf) - 1)
                return blocks
            if not self._discarding and end > self.max_bytes:
                self._head, self._discarding = bytes(self._buf[:HEAD_BYTES]), True
            blocks.append(self._take(end))
            del self._buf[: end + len(BLOCK_END)]
            if not self._buf:
                self._buf = bytearray()  # give back the capacity a large block grew
            self._in_block = False

    def _take(self, end: int, truncated: bool = False) -> Block:
        if self._discarding:
            block = Block(self._head, oversized=True, truncated=truncated)
            self._discarding, self._head = False, b""
            return block
        return Block(bytes(self._buf[:end]), truncated=truncated)

    def close(self) -> Block | None:
        """The connection ended: a block still open is returned as truncated."""
        if not self._in_block:
            return None
        block = self._take(len(self._buf), truncated=True)
        self._buf.clear()
        self._in_block = False
        return block


# --- listener ---------------------------------------------------------------------------------

# Called in a worker thread with (block, peer address); returns the framed-to-be ACK
# bytes, or None to send nothing (a truncated block nobody waits for).
BlockHandler = Callable[[Block, str], bytes | None]
# The same for several blocks at once (from different connections): the answers in order.
BatchHandler = Callable[[list[tuple[Block, str]]], list[bytes | None]]
DEFAULT_MAX_BATCH = 64


class MllpServer:
    """An asyncio MLLP server in its own thread; many connections, one block at a time each."""

    def __init__(
        self,
        handler: BlockHandler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        workers: int = 4,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        block_timeout: float = DEFAULT_BLOCK_TIMEOUT,
        batch_handler: BatchHandler | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        reuse_port: bool = False,
    ):
        self.handler = handler
        self.batch_handler = batch_handler
        self.max_batch = max_batch
        self.reuse_port = reuse_port  # several listener processes on one port (SO_REUSEPORT)
        self._waiting: list[tuple[Block, str, asyncio.Future]] = []
        self._batching = False
        self._storing: asyncio.Task | None = None
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.block_timeout = block_timeout
        self.open_connections = 0
        self.refused_connections = 0
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hl7-worker")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # Running -------------------------------------------------------------------------------

    def start(self) -> MllpServer:
        """Start in a daemon thread; returns once the port is bound (``self.port`` is set)."""
        self._thread = threading.Thread(target=self._run, name="hl7-listener", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def serve_forever(self) -> None:
        """Run in the calling thread until stopped (``flask hl7 serve``)."""
        self._run()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:  # bind errors reach the caller of start()
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._close())
            loop.close()
            self.executor.shutdown(wait=True, cancel_futures=True)

    async def _open(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connection,
            self.host,
            self.port,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("HL7 MLLP listener on %s:%s", self.host, self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Every connection task (also one already closing its socket) ends before the loop.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    # Connections ---------------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        peer_host = peer[0] if isinstance(peer, tuple) else str(peer or "")
        if self.open_connections >= self.max_connections:
            # Nothing is read from it: a flood of connections costs a socket each, briefly.
            self.refused_connections += 1
            log.warning(
                "HL7 connection from %s closed: %s connections open (HL7_MAX_CONNECTIONS)",
                peer_host,
                self.open_connections,
            )
            writer.transport.abort()
            return
        self.open_connections += 1
        deframer = Deframer(self.max_message_bytes)
        loop = asyncio.get_running_loop()
        block_started: float | None = None
        try:
            while True:
                timeout = self.idle_timeout
                if block_started is not None:
                    timeout = min(timeout, block_started + self.block_timeout - loop.time())
                try:
                    data = await asyncio.wait_for(reader.read(65536), max(timeout, 0.0))
                except TimeoutError:
                    data = b""
                    log.info(
                        "HL7 connection from %s closed: %s",
                        peer_host,
                        "block not finished in time" if deframer.in_block else "idle",
                    )
                if not data:
                    block = deframer.close()
                    if block is not None:
                        await self._answer(block, peer_host)
                    break
                blocks = deframer.feed(data)
                if not deframer.in_block:
                    block_started = None
                elif block_started is None or blocks:
                    block_started = loop.time()
                for block in blocks:
                    answer = await self._answer(block, peer_host)
                    if answer is not None:
                        writer.write(frame(answer))
                        await writer.drain()
                    if isinstance(answer, FinalAnswer):
                        return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("HL7 connection from %s failed", peer_host)
        finally:
            self.open_connections -= 1
            peak = deframer.peak
            deframer.release()
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            if peak >= TRIM_AFTER_BYTES:
                release_memory()

    async def _answer(self, block: Block, peer: str) -> bytes | None:
        loop = asyncio.get_running_loop()
        if self.batch_handler is None:
            return await loop.run_in_executor(self.executor, self.handler, block, peer)
        future = loop.create_future()
        self._waiting.append((block, peer, future))
        if not self._batching:
            self._batching = True
            self._storing = loop.create_task(self._store_groups())  # held: tasks are weak
        return await future

    async def _store_groups(self) -> None:
        """Hand over what waits, one group at a time, until nothing does. No waiting for
        company: a lone block goes at once; blocks that arrive while a group is being
        stored form the next one."""
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                group = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                try:
                    answers = await loop.run_in_executor(
                        self.executor, self.batch_handler, [(b, p) for b, p, _ in group]
                    )
                except Exception as exc:  # nothing stored: each connection ends unanswered
                    log.exception("HL7: a group of %s blocks failed", len(group))
                    for _, _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), answer in zip(group, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self._batching = False


class FinalAnswer(bytes):
    """An answer after which the listener closes the connection (a caller it does not
    know gets one answer, not a connection to keep)."""


def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Ask glibc to return freed heap memory to the system (no-op elsewhere)."""
    if _TRIM is not None:
        _TRIM(0)


# --- sender -----------------------------------------------------------------------------------


class MllpSendError(OSError):
    """No answer: refused, timed out, closed early, or not an MLLP block."""


def send_block(
    host: str,
    port: int,
    payload: bytes,
    *,
    timeout: float = 30.0,
    max_answer_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> bytes:
    """Send one message and wait for its answer (blocking; for the outbox job)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(frame(payload))
            deframer = Deframer(max_answer_bytes)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise MllpSendError("the receiver closed the connection without an answer")
                for block in deframer.feed(chunk):
                    if not block.oversized and not block.truncated:
                        return block.data
    except TimeoutError as exc:
        raise MllpSendError(f"no answer within {timeout:g} s") from exc
