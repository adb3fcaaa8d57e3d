"""Demo: the HL7 senders ``make run`` knows, all calling from this machine (127.0.0.1)."""

from __future__ import annotations

from sqlalchemy import select

from integrations.hl7.models import Hl7Sender
from scheduling.clock import utcnow
from scheduling.db import db
from scheduling.models import Hospital

# (MOPH code, what the system is): the HIS of two community hospitals and the hub's RIS.
DEMO_SENDERS = (
    ("11008", "HIS รพ.กุดรัง"),
    ("11005", "HIS รพ.โกสุมพิสัย"),
    ("10707", "RIS รพ.มหาสารคาม"),
)
DEMO_SENDER_ADDRESS = "127.0.0.1"


def load_hl7_demo() -> None:
    """Register the demo senders (flushed, not committed). Running it twice changes nothing."""
    for code, name in DEMO_SENDERS:
        hospital = db.session.scalar(select(Hospital).where(Hospital.code == code))
        if hospital is None:
            continue
        exists = db.session.scalar(
            select(Hl7Sender.id).where(Hl7Sender.hospital_id == hospital.id, Hl7Sender.name == name)
        )
        if exists is None:
            db.session.add(
                Hl7Sender(
                    hospital_id=hospital.id,
                    name=name,
                    addresses=DEMO_SENDER_ADDRESS,
                    is_enabled=True,
                    created_at=utcnow(),
                )
            )
    db.session.flush()
