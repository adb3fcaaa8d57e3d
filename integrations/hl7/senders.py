"""Registered HL7 senders: who may send, from where, in the name of which hospital.

A message is accepted only when the connection's peer address lies in an enabled
sender's addresses *and* MSH-4 is that sender's hospital. Several senders may share
an address (the demo's HIS and RIS all call from 127.0.0.1; a hospital's interface
engine may relay for two hospitals): the message may then name any of their hospitals.

The operations (add, change, remove) take ``actor`` and ``now`` like the domain's and
write one audit event each; the admin page and ``flask hl7-sender`` both call them.
``SenderDirectory`` keeps the senders in memory for the listener, reloaded every
``HL7_SENDER_REFRESH_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from integrations.hl7.models import Hl7Sender
from scheduling import addresses
from scheduling.audit import Actor, record, update_recorded
from scheduling.db import db
from scheduling.errors import FieldRefused, NotFound
from scheduling.hospitals import hospital_by_id_or_code
from scheduling.i18n import N_
from scheduling.models import Hospital

log = logging.getLogger(__name__)


def _addresses(text: str | None) -> str:
    try:
        stored = addresses.normalise(text)
    except addresses.BadAddressList as exc:
        raise FieldRefused("addresses", exc.msgid, code=exc.code, **exc.params) from None
    if not stored:
        raise FieldRefused(
            "addresses", N_("Enter at least one address or network"), code="no-address"
        )
    return stored


def add_sender(
    actor: Actor,
    now: datetime,
    *,
    addresses_text: str,
    hospital_id: int | None = None,
    hospital_code: str | None = None,
    name: str = "",
    is_enabled: bool = True,
) -> Hl7Sender:
    """Register a sender (committed, audited ``hl7.sender.create``)."""
    hospital = hospital_by_id_or_code(hospital_id, hospital_code)
    sender = Hl7Sender(
        hospital_id=hospital.id,
        name=(name or "").strip()[:100],
        addresses=_addresses(addresses_text),
        is_enabled=is_enabled,
        created_at=now,
    )
    db.session.add(sender)
    db.session.flush()
    record(
        actor,
        "hl7.sender.create",
        now,
        entity=sender,
        hospital_id=hospital.id,
        name=sender.name,
        addresses=sender.addresses,
        is_enabled=sender.is_enabled,
    )
    db.session.commit()
    return sender


def update_sender(
    actor: Actor,
    now: datetime,
    sender: Hl7Sender,
    *,
    addresses_text: str | None = None,
    hospital_id: int | None = None,
    name: str | None = None,
    is_enabled: bool | None = None,
) -> Hl7Sender:
    """Change a sender; the changes are audited as ``hl7.sender.update`` {field: [old, new]}."""
    new: dict[str, object] = {}
    if hospital_id is not None:
        new["hospital_id"] = hospital_by_id_or_code(hospital_id).id
    if addresses_text is not None:
        new["addresses"] = _addresses(addresses_text)
    if name is not None:
        new["name"] = name.strip()[:100]
    if is_enabled is not None:
        new["is_enabled"] = bool(is_enabled)
    update_recorded(
        actor,
        "hl7.sender.update",
        now,
        sender,
        new,
        hospital_id=new.get("hospital_id", sender.hospital_id),  # the hospital it moves to
    )
    db.session.commit()
    return sender


def remove_sender(actor: Actor, now: datetime, sender_id: int) -> None:
    """Delete a sender (audited ``hl7.sender.remove`` with what it was)."""
    sender = db.session.get(Hl7Sender, sender_id)
    if sender is None:
        raise NotFound(N_("No HL7 sender has the number %(id)s"), code="no-sender", id=sender_id)
    record(
        actor,
        "hl7.sender.remove",
        now,
        entity=sender,
        hospital_id=sender.hospital_id,
        name=sender.name,
        addresses=sender.addresses,
    )
    db.session.delete(sender)
    db.session.commit()


def list_senders() -> list[Hl7Sender]:
    return list(
        db.session.scalars(
            select(Hl7Sender).join(Hl7Sender.hospital).order_by(Hospital.code, Hl7Sender.id)
        )
    )


# --- the listener's view ----------------------------------------------------------------------


@dataclass(frozen=True)
class SenderInfo:
    id: int
    name: str
    hospital_id: int
    hospital_code: str
    networks: tuple[addresses.Network, ...]


def load_senders() -> list[SenderInfo]:
    """Every enabled sender (needs an app context). A stored list that no longer parses
    allows nothing rather than failing every message."""
    rows = db.session.execute(
        select(Hl7Sender.id, Hl7Sender.name, Hl7Sender.addresses, Hospital.id, Hospital.code)
        .join(Hospital, Hospital.id == Hl7Sender.hospital_id)
        .where(Hl7Sender.is_enabled.is_(True))
    ).all()
    senders = []
    for sender_id, name, text, hospital_id, code in rows:
        try:
            networks = tuple(addresses.parse_networks(text))
        except addresses.BadAddressList:
            log.warning("HL7 sender %s has an unreadable address list; it allows nothing", name)
            networks = ()
        senders.append(SenderInfo(sender_id, name, hospital_id, code, networks))
    return senders


class SenderDirectory:
    """The enabled senders, reloaded when older than ``max_age`` seconds.

    Called from the listener's worker threads inside an app context. While the
    database is away the senders known so far stay in force (the message is then
    answered "could not store" by the journal step anyway).
    """

    def __init__(self, max_age: float = 10.0):
        self.max_age = max_age
        self._lock = threading.Lock()
        self._senders: list[SenderInfo] = []
        self._loaded_at = float("-inf")
        # peer address → its senders, for the list loaded at ``_loaded_at`` (a listener
        # hears from a handful of addresses, each message asks again)
        self._by_peer: dict[str | None, list[SenderInfo]] = {}

    def _current(self) -> list[SenderInfo]:
        if time.monotonic() - self._loaded_at >= self.max_age:
            try:
                senders = load_senders()
            except SQLAlchemyError as exc:
                log.warning("HL7 senders not reloaded (database unavailable): %s", type(exc))
                db.session.rollback()
                return self._senders
            with self._lock:
                self._senders, self._loaded_at = senders, time.monotonic()
                self._by_peer = {}
        return self._senders

    def for_address(self, peer: str | None) -> list[SenderInfo]:
        """The enabled senders allowed to call from this address."""
        by_peer = self._by_peer  # taken before the list: never the old list's answers
        senders = self._current()  # in a reloaded list's cache
        found = by_peer.get(peer)
        if found is None:
            found = [s for s in senders if addresses.allowed(peer, s.networks)]
            if len(by_peer) < 1024:  # addresses of registered senders, and a few others
                by_peer[peer] = found
        return found
