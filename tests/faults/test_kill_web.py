"""``kill -9`` of the web app (gunicorn, master and workers) while staff are booking.

Four staff sessions confirm bookings concurrently; the whole gunicorn process group is
killed once a third of them have been answered. Every booking whose confirmation came
back (the redirect to its slip) must be in the database, nothing may be half-written,
gunicorn must start again on the same port, and the bookings whose answer was lost
are posted again: each request ends with exactly one appointment.
"""

from __future__ import annotations

import http.client
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sqlalchemy import select

from app.extensions import db
from integrations.hl7.models import Hl7Destination
from scheduling.availability import find_slots
from scheduling.clock import utcnow
from scheduling.models import Appointment, AppointmentStatus, User
from tests.app.requests.conftest import procedure
from tests.faults import harness, invariants
from tests.faults.webclient import WebClient
from tests.scheduling.factories import create_patient, create_req

SLIP = re.compile(r"/requests/appointments/(\d+)/slip$")


@dataclass
class Booking:
    request_id: int
    device_id: int
    start_at: str
    outcome: str = "not sent"  # "booked" (confirmed to the client), "lost" (no answer), other
    appointment_id: int | None = None


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    confirmed: int = 0


def prepare(count: int, destination: bool = True) -> list[Booking]:
    """``count`` requests of staff.kudrang, each with its own free slot (and patient)."""
    staff = db.session.scalar(select(User).where(User.username == "staff.kudrang"))
    us = procedure(db, "US-UPABD")
    now = utcnow()
    slots = find_slots(now, us, requesting_hospital_id=staff.hospital_id, limit=count)
    assert len(slots) == count
    bookings = []
    for slot in slots:
        req = create_req(now, staff.hospital, us, patient=create_patient(), commit=False)
        bookings.append(Booking(req.id, slot.device_id, slot.start_at.isoformat()))
    # A PACS destination (never reached: no jobs process here): each booking must come
    # with its order message, written in the same transaction.
    if destination:
        db.session.add(Hl7Destination(name="PACS", host="127.0.0.1", port=9))
    db.session.commit()
    return bookings


# A server killed mid-answer shows up as a reset socket (OSError) or as a cut status
# line or body (http.client.HTTPException): either way the client had no answer.
NO_ANSWER = (OSError, http.client.HTTPException)


def confirm(client: WebClient, booking: Booking) -> None:
    path = f"/requests/{booking.request_id}/confirm"
    try:
        if not client.token:
            client.get(
                path
                + "?"
                + urlencode({"device_id": booking.device_id, "start_at": booking.start_at})
            )
        answer = client.post(
            path, {"device_id": booking.device_id, "start_at": booking.start_at, "reason": ""}
        )
    except NO_ANSWER:
        booking.outcome = "lost"
        return
    match = SLIP.search(answer.location) if answer.status == 302 else None
    if match:
        booking.outcome, booking.appointment_id = "booked", int(match.group(1))
    else:
        booking.outcome = f"refused {answer.status} {answer.location}"


def run_clients(
    port: int,
    bookings: list[Booking],
    clients: int,
    tally: Tally | None = None,
    stop: threading.Event | None = None,
) -> None:
    def worker(share: list[Booking]) -> None:
        client = WebClient(port, timeout=60)
        try:
            client.login("staff.kudrang")
        except NO_ANSWER:
            return
        for booking in share:
            if stop is not None and stop.is_set():
                return
            confirm(client, booking)
            if booking.outcome == "booked" and tally is not None:
                with tally.lock:
                    tally.confirmed += 1

    threads = [
        threading.Thread(target=worker, args=(bookings[n::clients],)) for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


def test_kill_9_gunicorn_while_booking_loses_no_confirmed_booking(demo, services):
    bookings = prepare(36)
    web = services(harness.web_service)

    tally, stop = Tally(), threading.Event()
    load = threading.Thread(target=run_clients, args=(web.port, bookings, 4, tally, stop))
    load.start()
    harness.wait_for(lambda: tally.confirmed >= len(bookings) // 3, 120, "a third confirmed")
    web.kill9()
    stop.set()
    load.join(60)

    confirmed = {b.appointment_id: b for b in bookings if b.outcome == "booked"}
    assert confirmed and len(confirmed) < len(bookings)
    db.session.rollback()
    stored = {a.id: a for a in db.session.scalars(select(Appointment))}
    lost = [b for b in confirmed.values() if b.appointment_id not in stored]
    assert lost == [], "bookings confirmed to the client but not in the database"
    for appointment_id, booking in confirmed.items():
        appointment = stored[appointment_id]
        assert (appointment.request_id, appointment.status) == (
            booking.request_id,
            AppointmentStatus.BOOKED,
        )
    assert invariants.violations() == []

    # Same port, same database: it serves again, and the staff post what had no answer
    # (or was never sent) again, and the confirmed ones too, as a double click would.
    web.start()
    run_clients(web.port, [b for b in bookings if b.outcome != "booked"], 2)
    retried = [Booking(b.request_id, b.device_id, b.start_at) for b in confirmed.values()]
    run_clients(web.port, retried, 1)
    assert all(b.outcome != "booked" for b in retried), "a confirmed booking was made twice"

    db.session.rollback()
    assert invariants.violations() == []
    per_request = {}
    for appointment in db.session.scalars(select(Appointment)):
        per_request.setdefault(appointment.request_id, []).append(appointment.status)
    assert {b.request_id for b in bookings} == set(per_request)
    assert all(s == [AppointmentStatus.BOOKED] for s in per_request.values())
