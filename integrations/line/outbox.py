"""Putting messages into the LINE outbox, in the caller's transaction.

The receivers of the ``scheduling.events`` signals live here. They only add and update
rows in ``db.session`` (no commit, no network): a message then exists exactly when the
booking change it describes is committed, and a crash can lose neither.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update

from integrations.line import messages
from integrations.line.models import (
    LineAccount,
    LineMessageKind,
    LineOutbox,
    LineOutboxStatus,
    LinePatientLink,
)
from integrations.line.settings import ReminderRule, reminder_rules
from scheduling import events
from scheduling.clock import local_datetime, to_local
from scheduling.db import db
from scheduling.models import Appointment, AppointmentStatus, Closure, Patient


@functools.cache
def _account_of_patient():
    """The LINE account linked to the patient bound as ``patient_id``; built once (every
    booking asks)."""
    return (
        select(LineAccount)
        .join(LinePatientLink, LinePatientLink.account_id == LineAccount.id)
        .where(LinePatientLink.patient_id == bindparam("patient_id"))
    )


def active_account_for(patient_id: int) -> LineAccount | None:
    """The LINE account that should hear about this patient, if any may."""
    account = db.session.scalar(_account_of_patient(), {"patient_id": patient_id})
    if account is None or not account.is_following or account.opted_out:
        return None
    return account


def locale_of(patient: Patient) -> str:
    return "en" if (patient.preferred_language or "th").lower().startswith("en") else "th"


def reminder_due(appointment: Appointment, rule: ReminderRule) -> datetime:
    exam_day = to_local(appointment.start_at).date()
    return local_datetime(exam_day + timedelta(days=rule.days), rule.at)


def _add(
    account: LineAccount,
    kind: LineMessageKind,
    now: datetime,
    msgs: list[dict],
    summary: str,
    *,
    appointment: Appointment | None = None,
    patient: Patient | None = None,
    locale: str = "th",
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
    quiet_exempt: bool = False,
    reply_token: str | None = None,
) -> LineOutbox | None:
    if dedupe_key is not None:
        existing = db.session.scalar(select(LineOutbox).where(LineOutbox.dedupe_key == dedupe_key))
        if existing is not None:
            return None
    row = LineOutbox(
        kind=kind,
        status=LineOutboxStatus.PENDING,
        line_user_id=account.line_user_id,
        patient=patient if patient is not None else (appointment.patient if appointment else None),
        appointment=appointment,
        locale=locale,
        messages=msgs,
        summary=summary[:400],
        due_at=due_at or now,
        quiet_exempt=quiet_exempt,
        dedupe_key=dedupe_key,
        reply_token=reply_token,
        attempts=0,
        created_at=now,
    )
    db.session.add(row)
    return row


def _appointment_key(appointment: Appointment, purpose: str) -> str:
    if appointment.id is None:
        db.session.flush()  # the key names the row; a flush is local, not I/O to LINE
    return f"appt:{appointment.id}:{purpose}"


def queue_reminders(
    account: LineAccount, appointment: Appointment, now: datetime, locale: str
) -> list[LineOutbox]:
    """One row per configured reminder still ahead of us and before the exam."""
    rows = []
    for rule in reminder_rules():
        due = reminder_due(appointment, rule)
        if due <= now or due >= appointment.start_at:
            continue  # too late to remind (the confirmation has just told them)
        msgs, summary = messages.reminder(appointment, locale, rule)
        row = _add(
            account,
            LineMessageKind.REMINDER,
            now,
            msgs,
            summary,
            appointment=appointment,
            locale=locale,
            due_at=due,
            quiet_exempt=True,
            dedupe_key=_appointment_key(appointment, f"reminder:{rule.key}"),
        )
        if row is not None:
            rows.append(row)
    return rows


def queue_booking_messages(
    appointment: Appointment,
    now: datetime,
    kind: LineMessageKind = LineMessageKind.CONFIRMATION,
    previous: Appointment | None = None,
) -> list[LineOutbox]:
    """Confirmation (or reschedule notice) now, reminders at their times."""
    if appointment.status is not AppointmentStatus.BOOKED or appointment.start_at <= now:
        return []
    account = active_account_for(appointment.patient_id)
    if account is None:
        return []
    locale = locale_of(appointment.patient)
    if kind is LineMessageKind.RESCHEDULED:
        msgs, summary = messages.rescheduled(appointment, previous, locale)
    else:
        msgs, summary = messages.confirmation(appointment, locale)
    rows = []
    first = _add(
        account,
        kind,
        now,
        msgs,
        summary,
        appointment=appointment,
        locale=locale,
        dedupe_key=_appointment_key(appointment, kind.value),
    )
    if first is not None:
        rows.append(first)
    rows += queue_reminders(account, appointment, now, locale)
    return rows


def withdraw_pending(appointment: Appointment, now: datetime, reason: str) -> int:
    """Unsent messages about an appointment that changed are cancelled, not sent stale."""
    if appointment.id is None:
        return 0
    result = db.session.execute(
        update(LineOutbox)
        .where(
            LineOutbox.appointment_id == appointment.id,
            LineOutbox.status == LineOutboxStatus.PENDING,
            LineOutbox.kind != LineMessageKind.DIALOGUE,
        )
        .values(status=LineOutboxStatus.CANCELLED, last_error=reason)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


def queue_cancellation(appointment: Appointment, now: datetime) -> LineOutbox | None:
    if appointment.start_at <= now:
        return None
    account = active_account_for(appointment.patient_id)
    if account is None:
        return None
    locale = locale_of(appointment.patient)
    msgs, summary = messages.cancelled(appointment, locale)
    return _add(
        account,
        LineMessageKind.CANCELLED,
        now,
        msgs,
        summary,
        appointment=appointment,
        locale=locale,
        dedupe_key=_appointment_key(appointment, "cancelled"),
    )


def queue_dialogue(
    account: LineAccount,
    now: datetime,
    text: str,
    *,
    reply_token: str | None = None,
    locale: str = "th",
    patient: Patient | None = None,
) -> LineOutbox:
    row = _add(
        account,
        LineMessageKind.DIALOGUE,
        now,
        messages.text(text),
        text,
        patient=patient,
        locale=locale,
        reply_token=reply_token,
    )
    assert row is not None
    return row


# -- receivers of scheduling.events ---------------------------------------------------
def on_booked(sender, *, appointment: Appointment, now: datetime, **kwargs) -> None:
    queue_booking_messages(appointment, now)


def on_rescheduled(
    sender,
    *,
    appointment: Appointment,
    now: datetime,
    previous: Appointment | None = None,
    **kwargs,
) -> None:
    if previous is not None:
        withdraw_pending(previous, now, "appointment moved")
    queue_booking_messages(appointment, now, LineMessageKind.RESCHEDULED, previous)


def on_cancelled(sender, *, appointment: Appointment, now: datetime, **kwargs) -> None:
    withdraw_pending(appointment, now, "appointment cancelled")
    queue_cancellation(appointment, now)


def on_closure_moved(
    sender, *, appointment: Appointment, closure: Closure, now: datetime, **kwargs
) -> None:
    """A closure moved (or cancelled) this booking: the notice just queued for it, if
    the patient is on LINE, gives the closure's name as the reason."""
    cancelled = appointment.status is AppointmentStatus.CANCELLED
    kind = LineMessageKind.CANCELLED if cancelled else LineMessageKind.RESCHEDULED
    row = db.session.scalar(
        select(LineOutbox).where(
            LineOutbox.dedupe_key == _appointment_key(appointment, kind.value),
            LineOutbox.status == LineOutboxStatus.PENDING,
        )
    )
    if row is None:
        return
    reason = messages.closure_name(closure, row.locale)
    if cancelled:
        msgs, summary = messages.cancelled(appointment, row.locale, reason)
    else:
        msgs, summary = messages.rescheduled(
            appointment, appointment.rescheduled_from, row.locale, reason
        )
    row.messages, row.summary = msgs, summary[:400]


def connect_receivers() -> None:
    # Module-level functions: blinker keeps one connection each however often this runs.
    events.appointment_booked.connect(on_booked)
    events.appointment_rescheduled.connect(on_rescheduled)
    events.appointment_cancelled.connect(on_cancelled)
    events.closure_moved.connect(on_closure_moved)
