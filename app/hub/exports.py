"""The day and the week as .xlsx, and tomorrow's call list.

Spreadsheets are written with openpyxl in write-only mode (a big hub's week is tens of
thousands of rows). Dates are Buddhist-Era text (``23/11/2569``), as staff type and read
them; Excel's own dates would show the Gregorian year. Thai text is stored as is (xlsx
is UTF-8 throughout).
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Response, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.filters import localized, patient_name
from app.hub import queries
from app.hub.routes import _pick, bp, enum_labels, scheduler_only
from app.hub.scope import current_hub
from app.hub.xlsx import download, new_sheet, openpyxl
from app.pdpa.reads import audit_read
from app.webkit.fields import format_be_date
from integrations.line.models import LineAccount, LinePatientLink
from scheduling.clock import local_today, to_local
from scheduling.models import Appointment, AppointmentStatus, Hospital
from scheduling.timetable import day_bounds


def _columns() -> list[str]:
    return [
        _("Date"),
        _("Time"),
        _("Until"),
        _("Device"),
        _("Patient"),
        _("Procedure"),
        _("From"),
        _("Priority"),
        _("Status"),
        _("Accession number"),
    ]


def _row(a: Appointment, labels: dict) -> list[str]:
    req = a.request
    return [
        format_be_date(to_local(a.start_at).date()),
        to_local(a.start_at).strftime("%H:%M"),
        to_local(a.end_at).strftime("%H:%M"),
        a.device.ae_title,
        patient_name(a.patient),
        localized(req.procedure),
        localized(req.requesting_hospital),
        labels[req.priority],
        labels[a.status],
        a.accession_number,
    ]


def _workbook(hub: Hospital, title: str, appointments: list[Appointment], name: str) -> Response:
    book, sheet = new_sheet(title)
    sheet.append([f"{localized(hub)} · {title}"])
    kit = openpyxl()
    bold = kit.Font(bold=True)
    header = []
    for text in _columns():
        cell = kit.WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    labels = enum_labels()
    for a in appointments:
        sheet.append(_row(a, labels))
    return download(book, name)


def _be_stamp(day: date) -> str:
    return f"{day.year + 543:04d}-{day.month:02d}-{day.day:02d}"


@bp.route("/day.xlsx")
@scheduler_only
def day_xlsx():
    hub = current_hub()
    _form, the_day, modality = _pick(hub)
    devices = queries.hub_devices(hub, modality or None)
    start, end = day_bounds(the_day)
    appointments = queries.appointments_between(devices, start, end)
    appointments.sort(key=lambda a: (a.device.modality_code, a.device.ae_title, a.start_at))
    audit_read("hub.day_xlsx", appointments, appointments=[a.id for a in appointments])
    title = _("Day list") + " " + format_be_date(the_day).replace("/", "-")
    return _workbook(hub, title, appointments, f"day-{_be_stamp(the_day)}.xlsx")


@bp.route("/week.xlsx")
@scheduler_only
def week_xlsx():
    hub = current_hub()
    _form, the_day, modality = _pick(hub)
    first = the_day - timedelta(days=the_day.weekday())
    devices = queries.hub_devices(hub, modality or None)
    start, _end = day_bounds(first)
    _start, end = day_bounds(first + timedelta(days=6))
    appointments = queries.appointments_between(devices, start, end)
    audit_read("hub.week_xlsx", appointments, appointments=[a.id for a in appointments])
    title = _("Week list") + " " + format_be_date(first).replace("/", "-")
    return _workbook(hub, title, appointments, f"week-{_be_stamp(first)}.xlsx")


def call_list(hub: Hospital, day: date) -> list[Appointment]:
    """The day's booked patients at the hub that LINE cannot reach (never linked, no longer
    following, or opted out): staff phone them."""
    start, end = day_bounds(day)
    booked = queries.appointments_between(
        queries.hub_devices(hub), start, end, statuses=(AppointmentStatus.BOOKED,)
    )
    reachable = set(
        db.session.scalars(
            select(LinePatientLink.patient_id)
            .join(LineAccount, LineAccount.id == LinePatientLink.account_id)
            .where(
                LinePatientLink.patient_id.in_({a.patient_id for a in booked} or {-1}),
                LineAccount.is_following.is_(True),
                LineAccount.opted_out.is_(False),
            )
        )
    )
    return [a for a in booked if a.patient_id not in reachable]


@bp.route("/calls")
@scheduler_only
def calls():
    """Tomorrow's (or ``?date=``) patients not on LINE, with their phone numbers, to print."""
    hub = current_hub()
    form, the_day, _modality = _pick(hub)
    if not request.args.get("date"):
        the_day = local_today() + timedelta(days=1)
        form.date.data = the_day
    rows = call_list(hub, the_day)
    audit_read("hub.calls", rows, appointments=[a.id for a in rows])
    return render_template("hub/calls.html", hub=hub, day=the_day, rows=rows, form=form)
