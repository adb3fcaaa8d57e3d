"""MLLP (HL7 Minimal Lower Layer Protocol): framing, the asyncio listener, a blocking sender.

A block is ``<VT> message <FS><CR>``. The listener reads each connection in order (a
sender waits for the ACK before the next message), hands every complete block to a
thread pool, because the database work is synchronous SQLAlchemy, and writes back
the ACK that the worker returns. Blocks larger than the limit are discarded as they
stream in (only their head is kept, to answer AR with the right MSA-2).
"""

from __future__ import annotations

import asyncio
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

    def feed(self, data: bytes) -> list[Block]:
        blocks: list[Block] = []
        self._buf += data
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
    ):
        self.handler = handler
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
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
            self._on_connection, self.host, self.port, reuse_address=True
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
        deframer = Deframer(self.max_message_bytes)
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    block = deframer.close()
                    if block is not None:
                        await loop.run_in_executor(self.executor, self.handler, block, peer_host)
                    break
                for block in deframer.feed(data):
                    answer = await loop.run_in_executor(
                        self.executor, self.handler, block, peer_host
                    )
                    if answer is not None:
                        writer.write(frame(answer))
                        await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("HL7 connection from %s failed", peer_host)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass


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
