"""Linking a LINE user to a patient: the slip's one-time code, then the birth date.

The slip's QR code opens the hospital's Official Account with a message already typed:
``RB-7K3Q9X`` and a few words. A code alone is not enough (a slip can be seen by
others), so the chat then asks for the patient's birth date, in the Buddhist or the
Gregorian year. Codes are short, expire, work once, and die after a few wrong birth
dates; an account that keeps guessing is locked for a while.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select

from integrations.line.models import (
    LineAccount,
    LineLinkCode,
    LineOutbox,
    LineOutboxStatus,
    LinePatientLink,
)
from integrations.line.settings import setting
from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.models import Appointment, AppointmentStatus, Interface, Patient
from scheduling.thaidate import THAI_MONTHS_LONG, THAI_MONTHS_SHORT

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off paper
CODE_LENGTH = 6
CODE_PREFIX = "RB-"
MIN_CODE_LIFETIME = timedelta(days=1)
CODE_LIFETIME_AFTER_EXAM = timedelta(days=1)
MAX_CHECKS_PER_CODE = 3
MAX_FAILED_ATTEMPTS = 5
LOCK_TIME = timedelta(hours=1)
BE_OFFSET = 543

# "RB-7K3Q9X" anywhere in a message, or a message that is nothing but a code.
_CODE_IN_TEXT = re.compile(r"RB[-\s]?([A-Z2-9]{6})\b", re.IGNORECASE)
_BARE_CODE = re.compile(r"^\s*([A-Z2-9]{6})\s*$", re.IGNORECASE)


def line_actor(line_user_id: str | None = None) -> Actor:
    return Actor(interface=Interface.LINE, name=line_user_id or "webhook")


# -- codes -------------------------------------------------------------------------------
def _new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        # At least one digit, so an ordinary six-letter word is never taken for a code.
        if (
            any(ch.isdigit() for ch in code)
            and db.session.scalar(select(LineLinkCode.id).where(LineLinkCode.code == code)) is None
        ):
            return code


def code_for_appointment(
    appointment: Appointment, now: datetime, *, commit: bool = True
) -> LineLinkCode:
    """The appointment's unused, unexpired code, or a new one."""
    code = db.session.scalar(
        select(LineLinkCode)
        .where(
            LineLinkCode.appointment_id == appointment.id,
            LineLinkCode.used_at.is_(None),
            LineLinkCode.revoked.is_(False),
            LineLinkCode.expires_at > now + MIN_CODE_LIFETIME,
        )
        .order_by(LineLinkCode.id.desc())
    )
    if code is None:
        code = LineLinkCode(
            code=_new_code(),
            patient_id=appointment.patient_id,
            appointment_id=appointment.id,
            created_at=now,
            failed_checks=0,
            revoked=False,
            expires_at=max(appointment.end_at + CODE_LIFETIME_AFTER_EXAM, now + MIN_CODE_LIFETIME),
        )
        db.session.add(code)
        if commit:
            db.session.commit()
        else:
            db.session.flush()
    return code


def link_text(code: LineLinkCode) -> str:
    """What the QR code types into the chat for the patient."""
    return f"{CODE_PREFIX}{code.code} เชื่อมต่อการแจ้งนัด"


def link_url(code: LineLinkCode) -> str:
    """LINE URL scheme: open the Official Account's chat with the text already typed."""
    basic_id = setting("LINE_OA_BASIC_ID") or "@radbook-demo"
    return f"https://line.me/R/oaMessage/{quote(basic_id, safe='')}/?{quote(link_text(code))}"


def link_url_for_appointment(appointment: Appointment, now: datetime) -> str:
    """The URL the slip's QR code encodes (creates or reuses the code, and commits)."""
    return link_url(code_for_appointment(appointment, now))


def find_code_in(text: str) -> str | None:
    match = _CODE_IN_TEXT.search(text) or _BARE_CODE.match(text)
    if match is None:
        return None
    code = match.group(1).upper()
    return code if any(ch.isdigit() for ch in code) else None


def usable_code(code: str, now: datetime) -> LineLinkCode | None:
    row = db.session.scalar(select(LineLinkCode).where(LineLinkCode.code == code))
    if row is None or row.used_at is not None or row.revoked or row.expires_at <= now:
        return None
    return row


# -- birth dates ---------------------------------------------------------------------------
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_EN_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _month_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for number, (long, short) in enumerate(
        zip(THAI_MONTHS_LONG, THAI_MONTHS_SHORT, strict=True), start=1
    ):
        names[long] = names[short] = names[short.replace(".", "")] = number
    for number, name in enumerate(_EN_MONTHS, start=1):
        names[name] = number
    return names


_MONTHS = _month_names()


def _month_number(name: str) -> int | None:
    cleaned = name.strip().lower()
    if cleaned in _MONTHS:
        return _MONTHS[cleaned]
    if cleaned.replace(".", "") in _MONTHS:
        return _MONTHS[cleaned.replace(".", "")]
    return _MONTHS.get(cleaned[:3]) if cleaned[:3].isascii() else None


def _year(value: int, today: date) -> int | None:
    """Buddhist-Era years (พ.ศ. 2400 and later) become Gregorian; others must be plausible."""
    if value >= 2400:
        value -= BE_OFFSET
    if 1880 <= value <= today.year:
        return value
    return None


def parse_birth_date(text: str, today: date) -> date | None:
    """``14/03/2511``, ``14-3-1968``, ``14 มี.ค. 2511``, ``14 มีนาคม พ.ศ. 2511``, ``1968-03-14``."""
    cleaned = text.translate(_THAI_DIGITS)
    cleaned = re.sub(
        r"พ\.?\s?ศ\.?|ค\.?\s?ศ\.?|(?<![a-z])(b\.?e\.?|a\.?d\.?)(?![a-z])",
        " ",
        cleaned,
        flags=re.IGNORECASE,
    )
    cleaned = re.sub(r"(วันที่|เกิด)", " ", cleaned).strip()
    day = month = year = None
    if match := re.fullmatch(r"(\d{4})\s*-\s*(\d{1,2})\s*-\s*(\d{1,2})", cleaned):
        year, month, day = (int(g) for g in match.groups())
    elif match := re.fullmatch(r"(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{4})", cleaned):
        day, month, year = (int(g) for g in match.groups())
    elif match := re.fullmatch(r"(\d{2})(\d{2})(\d{4})", cleaned):
        day, month, year = (int(g) for g in match.groups())
    elif match := re.fullmatch(r"(\d{1,2})\s*([^\d\s]+\.?(?:\s?[^\d\s]+\.)?)\s*(\d{4})", cleaned):
        day, year = int(match.group(1)), int(match.group(3))
        month = _month_number(match.group(2).replace(" ", ""))
    if day is None or month is None or year is None:
        return None
    gregorian = _year(year, today)
    if gregorian is None:
        return None
    try:
        return date(gregorian, month, day)
    except ValueError:
        return None


# -- accounts and links --------------------------------------------------------------------
def account_for(line_user_id: str, now: datetime) -> LineAccount:
    account = db.session.scalar(select(LineAccount).where(LineAccount.line_user_id == line_user_id))
    if account is None:
        account = LineAccount(
            line_user_id=line_user_id,
            is_following=True,
            opted_out=False,
            failed_attempts=0,
            created_at=now,
            updated_at=now,
        )
        db.session.add(account)
        db.session.flush()
    return account


def is_locked(account: LineAccount, now: datetime) -> bool:
    return account.locked_until is not None and account.locked_until > now


def count_failure(account: LineAccount, now: datetime) -> None:
    account.failed_attempts += 1
    account.updated_at = now
    if account.failed_attempts >= MAX_FAILED_ATTEMPTS:
        account.locked_until = now + LOCK_TIME
        account.failed_attempts = 0
        account.pending_code_id = None
        record(line_actor(account.line_user_id), "line.locked", now, entity=account)


def link_patient(account: LineAccount, code: LineLinkCode, now: datetime) -> LinePatientLink:
    """Link (or move) the code's patient to this account; the code is spent."""
    patient = code.patient
    link = db.session.scalar(
        select(LinePatientLink).where(LinePatientLink.patient_id == patient.id)
    )
    previous_account_id = link.account_id if link is not None else None
    if link is None:
        link = LinePatientLink(account=account, patient=patient, linked_at=now)
        db.session.add(link)
    else:
        link.account = account
        link.linked_at = now
    code.used_at = now
    account.pending_code_id = None
    account.failed_attempts = 0
    account.opted_out = False
    account.updated_at = now
    db.session.flush()
    if previous_account_id is not None and previous_account_id != account.id:
        # Messages queued for the old phone must not go there any more.
        _cancel_pending_for(patient.id, "linked to another LINE account")
    record(
        line_actor(account.line_user_id),
        "line.link",
        now,
        entity=link,
        patient_id=patient.id,
        code_id=code.id,
        moved_from_account=previous_account_id,
    )
    return link


def _cancel_pending_for(patient_id: int, reason: str, line_user_id: str | None = None) -> None:
    query = select(LineOutbox).where(
        LineOutbox.patient_id == patient_id, LineOutbox.status == LineOutboxStatus.PENDING
    )
    if line_user_id is not None:
        query = query.where(LineOutbox.line_user_id == line_user_id)
    for row in db.session.scalars(query):
        row.status = LineOutboxStatus.CANCELLED
        row.last_error = reason


def unlink_all(account: LineAccount, now: datetime, reason: str) -> list[Patient]:
    """Remove every link of the account; unsent messages to it are cancelled."""
    patients = [link.patient for link in account.links]
    for link in list(account.links):
        _cancel_pending_for(link.patient_id, reason, account.line_user_id)
        record(
            line_actor(account.line_user_id),
            "line.unlink",
            now,
            entity=link,
            patient_id=link.patient_id,
            reason=reason,
        )
        db.session.delete(link)
    account.links.clear()
    account.pending_code_id = None
    account.updated_at = now
    db.session.flush()
    return patients


def upcoming_appointments(patient_id: int, now: datetime) -> list[Appointment]:
    return list(
        db.session.scalars(
            select(Appointment)
            .where(
                Appointment.patient_id == patient_id,
                Appointment.status == AppointmentStatus.BOOKED,
                Appointment.start_at > now,
            )
            .order_by(Appointment.start_at)
        )
    )
