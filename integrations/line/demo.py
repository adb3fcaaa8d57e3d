"""Demo: สมศรี ทองดี of รพ.กุดรัง has linked LINE, so booking her shows the messages."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from integrations.line import linking, outbox
from integrations.line.models import LinePatientLink
from scheduling.clock import utcnow
from scheduling.db import db
from scheduling.models import IdentifierType, Patient

DEMO_PATIENT_ID_STEM = "110170023070"  # สมศรี ทองดี, see app.demo.DEMO_PATIENTS
# A LINE user ID has the form U + 32 hex digits; this one is fixed so demos repeat.
DEMO_LINE_USER_ID = "U" + hashlib.sha256(b"radbook-demo-somsri").hexdigest()[:32]


def load_line_demo() -> None:
    """Link the demo patient to a fake LINE user. Running it twice changes nothing."""
    from scheduling.patients import national_id_check_digit

    national_id = DEMO_PATIENT_ID_STEM + national_id_check_digit(DEMO_PATIENT_ID_STEM)
    patient = db.session.scalar(
        select(Patient).where(
            Patient.id_type == IdentifierType.NATIONAL_ID, Patient.id_value == national_id
        )
    )
    if patient is None:
        return
    now = utcnow()
    account = linking.account_for(DEMO_LINE_USER_ID, now)
    link = db.session.scalar(
        select(LinePatientLink).where(LinePatientLink.patient_id == patient.id)
    )
    if link is None:
        db.session.add(LinePatientLink(account=account, patient=patient, linked_at=now))
        db.session.flush()
    for appointment in linking.upcoming_appointments(patient.id, now):
        outbox.queue_booking_messages(appointment, now)
    db.session.commit()
