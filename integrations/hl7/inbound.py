"""From an MLLP block to a committed journal entry and an ACK.

Order of work for each message, in a worker thread with its own app context:

1. decode (MSH-18) and split; anything unreadable is journaled and answered AR;
2. the connection's address must be a registered sender's, and MSH-4 that sender's
   hospital (``integrations.hl7.senders``); otherwise AR, journaled;
3. a repeat of (MSH-3, MSH-4, MSH-10) already processed gets its original ACK again;
4. an unsupported message type or an unknown sending facility (MSH-4 must be a
   hospital's 5-digit MOPH code) is journaled and answered AR;
5. the handler calls the ``scheduling`` operations with ``commit=False``; the journal
   row is added and everything is committed once, *then* the ACK is returned to be
   sent. A domain error rolls the change back and journals AE with an ERR segment.

Group commit (``process_batch``): the messages that arrived together on different
connections (``MllpServer`` hands over whatever waits while the previous group is being
stored) are processed one after the other in ONE transaction and committed once; every
ACK of the group is returned only after that commit. Each message's domain change runs
inside its own SAVEPOINT, so a message answered AE leaves the others' changes alone and
still journals its own AE row. If storing the group fails as a whole (a lost
connection, a lock timeout), nothing of it was acknowledged: the messages are processed
again one at a time, each with its own commit, so one bad message costs the others
nothing. A repeat of a message earlier in the same group sees its journal row (same
transaction) and gets its ACK.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from flask import Flask
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from integrations.hl7.ack import AckContext, AckError, build_ack
from integrations.hl7.errors import ack_error_for
from integrations.hl7.handlers import HANDLERS, Handler, Inbound, ReferenceCache
from integrations.hl7.message import (
    Hl7Message,
    Hl7ParseError,
    codec_for,
    decode_message,
    encode_for,
    peek_msh,
)
from integrations.hl7.mllp import Block, FinalAnswer
from integrations.hl7.models import Hl7Charset, Hl7InboundMessage, Hl7Outcome
from integrations.hl7.senders import SenderDirectory
from scheduling.audit import Actor
from scheduling.clock import utcnow
from scheduling.db import db
from scheduling.errors import DomainError
from scheduling.i18n import N_, translate
from scheduling.models import Interface

log = logging.getLogger(__name__)

RAW_LIMIT = 1_000_000  # characters of an unreadable block kept in the journal


class InboundProcessor:
    """Callable given to ``MllpServer``: (block, peer) → ACK bytes, or None for no answer."""

    def __init__(
        self,
        app: Flask,
        handlers: dict[str, Handler] | None = None,
        senders: SenderDirectory | None = None,
    ):
        self.app = app
        self.handlers = HANDLERS if handlers is None else handlers
        self.timezone = app.config.get("RADBOOK_TIMEZONE", "Asia/Bangkok")
        self.max_bytes = app.config.get("HL7_MAX_MESSAGE_BYTES")
        self.reference = ReferenceCache()
        self.senders = senders or SenderDirectory(
            float(app.config.get("HL7_SENDER_REFRESH_SECONDS", 10))
        )

    def __call__(self, block: Block, peer: str) -> bytes | None:
        with self.app.app_context():
            return self._alone(block, peer)

    def process_batch(self, items: list[tuple[Block, str]]) -> list[bytes | None]:
        """The answers to ``items`` (block, peer), in order, all committed in one
        transaction before any is returned (one at a time if the group cannot be)."""
        with self.app.app_context():
            if len(items) > 1:
                group = _Unit()
                try:
                    answers = [self.process(block, peer, group) for block, peer in items]
                    db.session.commit()
                    return answers
                except SQLAlchemyError:
                    log.warning(
                        "HL7: a group of %s messages could not be stored together; "
                        "storing them one at a time",
                        len(items),
                        exc_info=True,
                    )
                    db.session.rollback()
            return [self._alone(block, peer) for block, peer in items]

    def _alone(self, block: Block, peer: str) -> bytes | None:
        try:
            answer = self.process(block, peer)
            db.session.commit()
            return answer
        except SQLAlchemyError:
            # The journal itself could not be written: no ACK may claim it was stored.
            # AR tells the sender to try again later.
            log.exception("HL7: could not journal a message from %s", peer)
            db.session.rollback()
            return self._unstored_reject(block)

    # ------------------------------------------------------------------------------------

    def process(self, block: Block, peer: str, unit: _Unit | None = None) -> bytes | None:
        """Journal (uncommitted: the caller commits) and answer one block."""
        unit = unit or _Unit()
        now = utcnow()
        if not block.data.strip(b"\r\n\t "):
            return None  # an empty block is not a message; there is nothing to answer
        if block.oversized:
            limit = self.max_bytes or 0
            return self._reject_bytes(
                block,
                peer,
                now,
                unit,
                AckError(
                    "100",
                    f"message larger than {limit} bytes",
                    translate(N_("The message is larger than %(limit)s bytes"), "th", limit=limit),
                    app_code="too-large",
                ),
                answer=not block.truncated,
            )
        if block.truncated:
            self._reject_bytes(
                block,
                peer,
                now,
                unit,
                AckError(
                    "100",
                    "incomplete MLLP block (no end block before the next "
                    "start block or the end of the connection)",
                    translate(N_("The message arrived incomplete"), "th"),
                    app_code="truncated",
                ),
                answer=False,
            )
            return None
        try:
            text, codec, msh18 = decode_message(block.data)
            msg = Hl7Message(text)
        except Hl7ParseError as exc:
            return self._reject_bytes(
                block,
                peer,
                now,
                unit,
                AckError(
                    exc.code,
                    str(exc),
                    translate(
                        N_("The message could not be read: %(reason)s"), "th", reason=str(exc)
                    ),
                    location=exc.location,
                    app_code="unreadable",
                ),
            )
        return self.process_message(msg, text, codec, msh18, peer, now, unit)

    def process_message(
        self,
        msg: Hl7Message,
        text: str,
        codec: str,
        msh18: str,
        peer: str,
        now: datetime,
        unit: _Unit | None = None,
    ) -> bytes:
        unit = unit or _Unit()
        ctx = AckContext.from_message(msg, msh18)
        sender_app, sender_fac = msg.sending_application[:180], msg.sending_facility[:180]
        control_id = msg.control_id[:64]
        base = dict(
            received_at=now,
            remote_addr=peer[:64] or None,
            sending_application=sender_app,
            sending_facility=sender_fac,
            message_type=msg.message_type[:20],
            control_id=control_id or None,
            version=msg.version[:10],
            charset=codec,
            raw=text,
        )

        def reject(error: AckError, code: str = "AR") -> bytes:
            outcome = Hl7Outcome.REJECTED if code == "AR" else Hl7Outcome.ERROR
            ack = build_ack(ctx, code, now, error=error, timezone=self.timezone)
            self._journal(unit, base, outcome, ack, error)
            return encode_for(ack, codec)

        # Who is calling is decided by the connection, not by what the message says.
        registered = self.senders.for_address(peer)
        if not registered:
            return FinalAnswer(
                reject(
                    _error(
                        "207",
                        f"the address {peer[:64]} is not registered as an HL7 sender",
                        N_(
                            "The address %(address)s is not registered as an HL7 sender; "
                            "ask the RadBook administrator to register it"
                        ),
                        address=peer[:64],
                        app_code="sender-not-registered",
                    )
                )
            )
        if not control_id:
            return reject(
                _error(
                    "101",
                    "MSH-10 (message control ID) is missing",
                    N_("The message has no control ID (MSH-10)"),
                    "MSH^1^10",
                )
            )
        if not msg.message_code:
            return reject(
                _error(
                    "101",
                    "MSH-9 (message type) is missing",
                    N_("The message has no message type (MSH-9)"),
                    "MSH^1^9",
                )
            )

        previous = self._repeat(unit, sender_app, sender_fac, control_id, now)
        if previous is not None:
            return encode_for(previous, codec)

        handler = self.handlers.get(msg.message_type)
        if handler is None:
            known_code = any(key.split("^")[0] == msg.message_code for key in self.handlers)
            return reject(
                _error(
                    "201" if known_code else "200",
                    f"unsupported message type {msg.message_type}",
                    N_("RadBook does not accept %(type)s messages"),
                    "MSH^1^9",
                    type=msg.message_type,
                )
            )
        hospital = self.reference.hospital(msg.sending_facility)
        if hospital is None:
            return reject(
                _error(
                    "103",
                    f"unknown sending facility {msg.sending_facility!r} (MSH-4 must be the "
                    "5-digit MOPH code of a hospital in RadBook)",
                    N_("Unknown sending hospital %(code)s: MSH-4 must be the 5-digit MOPH code"),
                    "MSH^1^4",
                    code=msg.sending_facility,
                )
            )
        if hospital.code not in {s.hospital_code for s in registered}:
            return reject(
                _error(
                    "103",
                    f"MSH-4 {hospital.code} is not the hospital registered for the address "
                    f"{peer[:64]}",
                    N_("MSH-4 %(code)s is not the hospital registered for the address %(address)s"),
                    "MSH^1^4",
                    code=hospital.code,
                    address=peer[:64],
                    app_code="facility-not-registered",
                )
            )
        hospital_id = base["hospital_id"] = hospital.id

        actor = Actor(
            interface=Interface.HL7,
            name=(f"{sender_app}@{sender_fac}" if sender_app else sender_fac)[:90],
            hospital_id=hospital_id,
            remote_addr=peer[:64] or None,
        )
        work = Inbound(
            msg=msg,
            now=now,
            actor=actor,
            hospital_id=hospital_id,
            timezone=self.timezone,
            reference=self.reference,
        )
        # Earlier messages of the group wrote: this one's change gets a savepoint of its
        # own. The first writer of a transaction needs none (a rollback undoes only it).
        savepoint = db.session.begin_nested() if unit.written else None
        try:
            handler(work)
            ack = build_ack(ctx, "AA", now, timezone=self.timezone)
            _core(
                _JOURNAL_INSERT,
                [
                    _row(
                        base,
                        outcome=Hl7Outcome.ACCEPTED,
                        dedupe_control_id=control_id,
                        patient_id=work.patient_id,
                        request_id=work.request_id,
                        ack=ack,
                    )
                ],
            )
            if savepoint is not None:
                savepoint.commit()  # RELEASE: kept in the group's transaction
            unit.written = True
            return encode_for(ack, codec)
        except DomainError as exc:
            _undo(savepoint)
            error = ack_error_for(exc)
        except IntegrityError:
            _undo(savepoint)
            previous = self._repeat(unit, sender_app, sender_fac, control_id, now)
            if previous is not None:  # the same message raced in on another connection
                return encode_for(previous, codec)
            log.exception("HL7 %s %s: integrity error", msg.message_type, control_id)
            error = _error(
                "207",
                "the change conflicts with stored data",
                N_("The change conflicts with data already in RadBook"),
            )
        except SQLAlchemyError:
            raise
        except Exception as exc:
            _undo(savepoint)
            log.exception("HL7 %s %s failed", msg.message_type, control_id)
            error = AckError(
                "207",
                f"internal error: {type(exc).__name__}: {exc}"[:500],
                translate(
                    N_(
                        "RadBook could not process the message "
                        "(internal error); the administrator has the "
                        "details"
                    ),
                    "th",
                ),
                app_code="internal",
            )
        ack = build_ack(ctx, "AE", now, error=error, timezone=self.timezone)
        self._journal(unit, base, Hl7Outcome.ERROR, ack, error, dedupe_control_id=control_id)
        return encode_for(ack, codec)

    # ------------------------------------------------------------------------------------

    def _repeat(
        self, unit: _Unit, app_name: str, facility: str, control_id: str, now: datetime
    ) -> str | None:
        """The ACK already given to this (sender, MSH-10), counting the repeat; else None."""
        found = _core(
            _REPEAT_LOOKUP, {"app": app_name, "facility": facility, "control_id": control_id}
        ).first()
        if found is None:
            return None
        _core(_REPEAT_COUNT, {"entry_id": found.id, "now": now})
        unit.written = True
        return found.ack

    def _journal(
        self,
        unit: _Unit,
        base: dict,
        outcome: Hl7Outcome,
        ack: str,
        error: AckError | None,
        **extra,
    ) -> None:
        _core(
            _JOURNAL_INSERT,
            [
                _row(
                    base,
                    **extra,
                    outcome=outcome,
                    ack=ack,
                    error_code=(error.app_code or error.hl7_code) if error else None,
                    error_en=error.text_en if error else None,
                    error_th=error.text_th if error else None,
                )
            ],
        )
        unit.written = True

    def _reject_bytes(
        self,
        block: Block,
        peer: str,
        now: datetime,
        unit: _Unit,
        error: AckError,
        answer: bool = True,
    ) -> bytes | None:
        """Journal and answer AR for a block that never became a message."""
        try:
            fields = peek_msh(block.data)
            ctx = AckContext.from_msh_bytes(fields)
        except Hl7ParseError:
            fields, ctx = [], AckContext()
        raw = block.data[:RAW_LIMIT].decode("utf-8", "replace")
        # Answer in the sender's character set when it named one we know, else UTF-8
        # (the Thai user message in ERR-8 needs one or the other).
        msh18 = fields[18].decode("latin-1").strip() if len(fields) > 18 else ""
        codec = codec_for(msh18) or ""
        if not codec:
            codec, msh18 = "utf-8", Hl7Charset.UTF8.value
        ctx = dataclasses.replace(ctx, msh18=msh18)
        ack = build_ack(ctx, "AR", now, error=error, timezone=self.timezone)

        def first(n: int) -> str:
            if n >= len(fields):
                return ""
            return fields[n].decode("latin-1").split("^")[0].strip()

        base = dict(
            received_at=now,
            remote_addr=peer[:64] or None,
            sending_application=first(3)[:180],
            sending_facility=first(4)[:180],
            message_type="^".join(
                p.strip()
                for p in (fields[9].decode("latin-1").split("^")[:2] if len(fields) > 9 else [])
                if p.strip()
            )[:20],
            control_id=(ctx.control_id or None) and ctx.control_id[:64],
            version=ctx.version[:10] if fields else "",
            charset="",
            raw=raw,
        )
        self._journal(unit, base, Hl7Outcome.REJECTED, ack if answer else "", error)
        return encode_for(ack, codec) if answer else None

    def _unstored_reject(self, block: Block) -> bytes | None:
        if block.truncated:
            return None
        try:
            ctx = AckContext.from_msh_bytes(peek_msh(block.data))
        except Hl7ParseError:
            ctx = AckContext()
        error = AckError(
            "207",
            "the message could not be stored; send it again later",
            translate(N_("RadBook could not store the message; send it again later"), "th"),
            app_code="not-stored",
        )
        ctx = dataclasses.replace(ctx, msh18=Hl7Charset.UTF8.value)
        return build_ack(ctx, "AR", utcnow(), error=error, timezone=self.timezone).encode("utf-8")


@dataclasses.dataclass
class _Unit:
    """The transaction a message is processed in (its own, or its group's):
    ``written`` once something was written in it, so that a later message's failed
    change is undone with a savepoint rather than a rollback of it all."""

    written: bool = False


def _core(statement, params):
    """A Core statement on the session's connection (its transaction), without the ORM's
    execute path, which cost more than the journal's statements themselves."""
    return db.session.connection().execute(statement, params)


def _undo(savepoint) -> None:
    """Undo the failed message's change: back to its savepoint, or (the first writer of
    its transaction) the whole transaction."""
    if savepoint is not None:
        savepoint.rollback()
    else:
        db.session.rollback()


_JOURNAL_DEFAULTS = {
    "hospital_id": None,
    "dedupe_control_id": None,
    "patient_id": None,
    "request_id": None,
    "error_code": None,
    "error_en": None,
    "error_th": None,
    "duplicates": 0,
    "last_duplicate_at": None,
}


def _row(base: dict, **values) -> dict:
    """All journal columns for one Core insert (every row of an executemany has the same).

    A NUL (refused by PostgreSQL in text) is journaled as U+2400 SYMBOL FOR NULL, so a
    message that carried one is kept, and answered, like any other unreadable one.
    """
    row = {**_JOURNAL_DEFAULTS, **base, **values}
    for key, value in row.items():
        if isinstance(value, str) and "\x00" in value:
            row[key] = value.replace("\x00", "\u2400")
    return row


# Built once: on the hot path, building a statement costs several times running it.
_JOURNAL = Hl7InboundMessage.__table__
_REPEAT_LOOKUP = select(_JOURNAL.c.id, _JOURNAL.c.ack).where(
    _JOURNAL.c.sending_application == bindparam("app"),
    _JOURNAL.c.sending_facility == bindparam("facility"),
    _JOURNAL.c.dedupe_control_id == bindparam("control_id"),
)
_REPEAT_COUNT = (
    update(_JOURNAL)
    .where(_JOURNAL.c.id == bindparam("entry_id"))
    .values(duplicates=_JOURNAL.c.duplicates + 1, last_duplicate_at=bindparam("now"))
)
_JOURNAL_INSERT = insert(_JOURNAL)


def _error(
    hl7_code: str,
    text_en: str,
    msgid: str,
    location: str = "",
    app_code: str = "",
    **params,
) -> AckError:
    return AckError(
        hl7_code, text_en, translate(msgid, "th", **params), location=location, app_code=app_code
    )
