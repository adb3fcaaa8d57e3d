"""A closure that moves or cancels a booking tells the patient on LINE why (its name),
in the patient's language; an ordinary move or cancellation does not show a reason."""

from __future__ import annotations

import json
from datetime import date

from integrations.line.delivery import send_due
from scheduling.booking import reschedule
from scheduling.capacity import add_day_closure
from scheduling.closures_move import move_out
from scheduling.models import ClosureKind
from tests.integrations.line.conftest import MON_0900, book_for, linked_patient
from tests.scheduling.factories import SYSTEM

MONDAY = date(2026, 11, 23)


def _downtime(setup, now):
    _hub, _requester, device, _procedure = setup
    return add_day_closure(
        SYSTEM,
        now,
        kind=ClosureKind.DEVICE_DOWNTIME,
        day=MONDAY,
        device=device,
        name_th="เครื่องเสีย รออะไหล่",
        name_en="Scanner out of order",
    )


def _pushed(standin, now, user_id: str) -> str:
    send_due(now)
    return json.dumps([p.messages for p in standin.pushes() if p.to == user_id], ensure_ascii=False)


def test_a_closure_move_gives_the_patient_the_closure_as_reason(db, now, setup, standin):
    hub = setup[0]
    thai, thai_account = linked_patient(now)
    english, english_account = linked_patient(now, preferred_language="en")
    book_for(now, setup, thai)
    book_for(now, setup, english, start_at=MON_0900.replace(hour=3))
    outcome = move_out(SYSTEM, now, _downtime(setup, now), hub.id)
    assert len(outcome.moved) == 2
    text = _pushed(standin, now, thai_account.line_user_id)
    assert "ย้ายนัด" in text or "เลื่อน" in text
    assert "เหตุผล" in text and "เครื่องเสีย รออะไหล่" in text
    text = _pushed(standin, now, english_account.line_user_id)
    assert "Reason" in text and "Scanner out of order" in text
    assert "เครื่องเสีย" not in text


def test_a_booking_the_closure_cancels_is_told_the_reason_too(db, now, setup, standin):
    hub = setup[0]
    patient, account = linked_patient(now)
    book_for(now, setup, patient)
    outcome = move_out(SYSTEM, now, _downtime(setup, now), hub.id, to_waitlist=True)
    assert len(outcome.waitlisted) == 1
    text = _pushed(standin, now, account.line_user_id)
    assert "ยกเลิก" in text and "เหตุผล" in text and "เครื่องเสีย รออะไหล่" in text


def test_an_ordinary_move_shows_no_reason(db, now, setup, standin):
    _hub, _requester, device, _procedure = setup
    patient, account = linked_patient(now)
    first = book_for(now, setup, patient)
    reschedule(SYSTEM, now, first, device, MON_0900.replace(hour=4), reason="ภายใน: ขอเลื่อน")
    text = _pushed(standin, now, account.line_user_id)
    assert "ภายใน" not in text and "เหตุผล" not in text
