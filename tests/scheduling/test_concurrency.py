"""32 clients race for the last slot of a day: exactly one wins, every time.

Each client is a thread with its own app context, hence its own SQLAlchemy session
and database connection, as web workers, the HL7 listener and the FHIR API would be.
Runs on whichever database the suite runs on (SQLite file or PostgreSQL).
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from app.extensions import db as _db
from scheduling.booking import book
from scheduling.errors import Conflict
from scheduling.models import Appointment, ImagingRequest
from tests.scheduling.factories import SYSTEM, create_req, create_setup

CLIENTS = 32
ROUNDS = 12


def race(
    app, jobs: list[tuple[int, int]], start_at: datetime, now: datetime
) -> tuple[list[int], list[str], list[BaseException]]:
    """Run ``book`` for each (request id, device id) at once, one thread each."""
    from scheduling.models import Device

    barrier = threading.Barrier(len(jobs))
    won: list[int] = []
    lost: list[str] = []
    crashed: list[BaseException] = []
    lock = threading.Lock()

    def client(request_id: int, device_id: int) -> None:
        with app.app_context():
            try:
                request = _db.session.get(ImagingRequest, request_id)
                device = _db.session.get(Device, device_id)
                _db.session.commit()  # start the race with no transaction open
                barrier.wait(timeout=30)
                appointment = book(SYSTEM, now, request, device, start_at)
                with lock:
                    won.append(appointment.request_id)
            except Conflict as error:
                with lock:
                    lost.append(error.code)
            except BaseException as error:  # noqa: BLE001 - reported by the test
                with lock:
                    crashed.append(error)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=client, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return won, lost, crashed


def test_32_clients_race_for_the_last_slot(app, db, now):
    # One 20-minute slot a day (08:00-08:20 local), every day.
    hub, requester, device, procedure = create_setup(now, start=time(8, 0), end=time(8, 20))
    first_day = date(2026, 11, 23)
    for round_no in range(ROUNDS):
        requests = [create_req(now, requester, procedure, commit=False) for _ in range(CLIENTS)]
        _db.session.commit()
        day = first_day + timedelta(days=round_no)
        start_at = datetime.combine(day, time(1, 0), tzinfo=UTC)  # 08:00 Bangkok
        won, lost, crashed = race(app, [(r.id, device.id) for r in requests], start_at, now)
        assert crashed == [], crashed
        assert len(won) == 1, (round_no, won)
        assert lost == ["slot-taken"] * (CLIENTS - 1)
        _db.session.expire_all()
        booked = _db.session.scalar(
            select(func.count(Appointment.id)).where(Appointment.start_at == start_at)
        )
        assert booked == 1
        statuses = _db.session.scalars(
            select(ImagingRequest.status).where(ImagingRequest.id.in_([r.id for r in requests]))
        ).all()
        assert sorted(s.name for s in statuses) == sorted(
            ["SCHEDULED"] + ["SUBMITTED"] * (CLIENTS - 1)
        )
    total = _db.session.scalar(select(func.count(Appointment.id)))
    assert total == ROUNDS
    accessions = _db.session.scalars(select(Appointment.accession_number)).all()
    assert len(set(accessions)) == ROUNDS


def test_one_patient_two_devices_same_time(app, db, now):
    """Two clients book one patient on two devices at once: the patient lock lets one win."""
    from tests.scheduling.factories import create_device, create_patient, office_template

    hub, requester, device, procedure = create_setup(now)
    second = create_device(hub)
    office_template(second, now=now)
    start_at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    for _ in range(6):
        patient = create_patient()
        a = create_req(now, requester, procedure, patient=patient, commit=False)
        b = create_req(now, requester, procedure, patient=patient, commit=False)
        _db.session.commit()
        won, lost, crashed = race(app, [(a.id, device.id), (b.id, second.id)], start_at, now)
        assert crashed == [] and len(won) == 1 and lost == ["patient-overlap"]
        start_at += timedelta(minutes=20)
    live = _db.session.scalar(select(func.count(Appointment.id)))
    assert live == 6
