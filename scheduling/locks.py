"""Serialising writers that read-then-write (see ``scheduling/booking.py`` for why).

PostgreSQL: ``SELECT … FOR UPDATE`` on the rows that stand for what is being
decided (the request, the patient, the device), always in that order so two
transactions can never wait on each other in a cycle. Under READ COMMITTED every
statement after the lock sees what the previous holder committed.

SQLite: one writer at a time is all it has; ``BEGIN IMMEDIATE`` takes the write lock
*before* the checks read, so no other writer can commit in between (a plain
deferred transaction would take it only at the first INSERT, after the reads). If
the session is already in a write transaction (an adapter called us with
``commit=False`` after writing its own rows), it already holds the lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, select

from scheduling.db import db
from scheduling.models import Appointment, Device, ImagingRequest, Patient
from scheduling.patients import same_person
from scheduling.timetable import built_once, in_list


def _sqlite_begin_immediate() -> bool:
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return False
    raw = connection.connection.dbapi_connection
    if not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    return True


def _request_lock(sqlite: bool):
    # Lock and reload in one statement.
    return (
        select(ImagingRequest)
        .where(ImagingRequest.id == bindparam("request_id"))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_request(request: ImagingRequest) -> ImagingRequest:
    """Lock the request row and reload it, so its status is the committed one."""
    if _sqlite_begin_immediate():
        db.session.refresh(request)
    else:
        statement, _ = built_once("lock_request", _request_lock)
        db.session.execute(statement, {"request_id": request.id})
    # refresh() leaves lazy relationships as they were; these must be the committed ones.
    db.session.expire(request, ["appointments", "studies"])
    return request


def lock_appointment(appointment: Appointment) -> Appointment:
    """Lock the appointment's request, then the appointment, and reload both."""
    lock_request(appointment.request)
    if db.session.connection().dialect.name != "sqlite":
        db.session.execute(
            select(Appointment.id).where(Appointment.id == appointment.id).with_for_update()
        )
    db.session.refresh(appointment)
    return appointment


@dataclass(frozen=True)
class _BookingLocks:
    patient: Select
    devices: Select


def _booking_locks(sqlite: bool) -> _BookingLocks:
    # The devices in one statement, in id order (ORDER BY … FOR UPDATE locks as it reads),
    # reloaded: a device switched off meanwhile takes no booking. SQLite: no row locks.
    devices = select(Device).where(in_list(Device.id, "device_ids", sqlite)).order_by(Device.id)
    if not sqlite:
        devices = devices.with_for_update()
    return _BookingLocks(
        # Every hospital's record of the person, in id order: two hospitals booking the
        # same person at once meet here.
        patient=select(Patient.id)
        .where(Patient.id.in_(same_person(bindparam("patient_id"))))
        .order_by(Patient.id)
        .with_for_update(),
        devices=devices.execution_options(populate_existing=True),
    )


def lock_for_booking(patient_id: int, device_ids: Iterable[int]) -> None:
    """Lock the patient (no overlapping exams) and the devices (capacity), in that order;
    the device rows are reloaded (a device switched off meanwhile takes no booking)."""
    ids = sorted(set(device_ids))
    statements, _ = built_once("booking_locks", _booking_locks)
    if not _sqlite_begin_immediate():
        db.session.execute(statements.patient, {"patient_id": patient_id})
    db.session.execute(statements.devices, {"device_ids": ids})
