"""Capacity templates to and from .xlsx: one row per weekly window.

Columns: device AE title, template name, weekday, start, end, bookings at once, slot
minutes (blank: each procedure's own length), valid from, valid to (Buddhist-Era dates,
blank: open-ended). Rows with the same device, name, slot length and validity make one
template. An import is read and checked whole first: the preview shows every row, each
bad one with its own Thai message, and nothing is saved until every row is good and the
scheduler confirms; then one new template per group is created (``create_template``, in
one transaction), which takes over from the day it is valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, time
from io import BytesIO
from zipfile import BadZipFile

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.hub.routes import bp, scheduler_only
from app.hub.scope import current_hub
from app.hub.xlsx import download, new_sheet, openpyxl
from app.webkit.fields import format_be_date, parse_be_date, parse_hhmm
from app.webkit.views import attempt
from scheduling import capacity as ops
from scheduling.models import Device

WEEKDAYS_TH = ("จันทร์", "อังคาร", "พุธ", "พฤหัสบดี", "ศุกร์", "เสาร์", "อาทิตย์")
WEEKDAYS_SHORT = ("จ.", "อ.", "พ.", "พฤ.", "ศ.", "ส.", "อา.")
WEEKDAYS_EN = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_ROWS = 2000
MAX_BYTES = 2 * 1024 * 1024


def _headers() -> list[str]:
    return [
        _("Device"),
        _("Template name"),
        _("Weekday"),
        _("From"),
        _("To"),
        _("At once"),
        _("Slot length (minutes)"),
        _("Valid from"),
        _("Valid to"),
    ]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _weekday(text: str) -> int | None:
    t = text.strip().lower().removeprefix("วัน")
    for names in (WEEKDAYS_SHORT, WEEKDAYS_TH):
        if text.strip() in names:
            return names.index(text.strip())
        if t in names:
            return names.index(t)
    for i, name in enumerate(WEEKDAYS_EN):
        if t.startswith(name):
            return i
    return None


@dataclass
class SheetRow:
    number: int  # the row's number in the sheet, as Excel shows it
    values: list[str]
    errors: list[str] = field(default_factory=list)
    device_id: int | None = None
    weekday: int | None = None
    start: str = ""
    end: str = ""
    capacity: int | None = None
    slot_minutes: int | None = None
    valid_from: str = ""  # ISO
    valid_to: str = ""

    @property
    def key(self) -> tuple:
        return (self.device_id, self.values[1], self.slot_minutes, self.valid_from, self.valid_to)


def _int(text: str, low: int, high: int) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


def check_row(number: int, values: list[str], devices: dict[str, Device]) -> SheetRow:
    """One sheet row read and checked on its own; ``errors`` says what is wrong, in Thai
    (the request's language)."""
    values = (values + [""] * 9)[:9]
    row = SheetRow(number, values)
    ae, _name, weekday, start, end, capacity, slot, valid_from, valid_to = values
    device = devices.get(ae.upper())
    if device is None:
        row.errors.append(_("No device with AE title “%(ae)s” at this hospital", ae=ae))
    else:
        row.device_id = device.id
    row.weekday = _weekday(weekday)
    if row.weekday is None:
        row.errors.append(_("Weekday “%(value)s” is not a day of the week", value=weekday))
    start_at, end_at = parse_hhmm(start), parse_hhmm(end)
    if start_at is None or end_at is None:
        row.errors.append(_("Enter the times as HH:MM, e.g. 08:30"))
    elif end_at <= start_at:
        row.errors.append(_("The window must end after it starts"))
    else:
        row.start, row.end = start_at.strftime("%H:%M"), end_at.strftime("%H:%M")
    row.capacity = _int(capacity or "1", 1, 50)
    if row.capacity is None:
        row.errors.append(_("Bookings at once must be a whole number from 1 to 50"))
    if slot:
        row.slot_minutes = _int(slot, 1, 480)
        if row.slot_minutes is None:
            row.errors.append(_("Slot length must be 1 to 480 minutes"))
    dates: list[date | None] = []
    for text in (valid_from, valid_to):
        parsed = parse_be_date(text) if text else None
        if text and parsed is None:
            row.errors.append(_("“%(value)s” is not a date: enter dd/mm/yyyy (BE)", value=text))
        dates.append(parsed)
    if dates[0] and dates[1] and dates[1] < dates[0]:
        row.errors.append(_("The validity ends before it starts"))
    row.valid_from = dates[0].isoformat() if dates[0] else ""
    row.valid_to = dates[1].isoformat() if dates[1] else ""
    return row


def check_rows(rows: list[SheetRow]) -> None:
    """Checks across rows: two windows of one template on one weekday must not overlap
    (the later row gets the message)."""
    seen: dict[tuple, list[SheetRow]] = {}
    for row in rows:
        if row.errors:
            continue
        same = seen.setdefault((row.key, row.weekday), [])
        for other in same:
            if row.start < other.end and other.start < row.end:
                row.errors.append(_("Overlaps the window in row %(number)s", number=other.number))
                break
        same.append(row)


def _hub_devices(hub) -> dict[str, Device]:
    return {
        d.ae_title.upper(): d
        for d in db.session.scalars(select(Device).where(Device.hospital_id == hub.id))
    }


def read_sheet(data: bytes, devices: dict[str, Device]) -> list[SheetRow]:
    book = openpyxl().load_workbook(BytesIO(data), read_only=True, data_only=True)
    sheet = book.worksheets[0]
    rows = []
    for number, cells in enumerate(sheet.iter_rows(min_row=2, values_only=True), start=2):
        values = [_text(v) for v in cells][:9]
        if not any(values):
            continue
        if len(rows) >= MAX_ROWS:
            break
        rows.append(check_row(number, values, devices))
    check_rows(rows)
    return rows


@bp.route("/capacity/templates.xlsx")
@scheduler_only
def templates_xlsx():
    hub = current_hub()
    book, sheet = new_sheet(_("Capacity templates"))
    sheet.append(_headers())
    for template in ops.templates_for_hub(hub.id):
        if not template.is_active:
            continue
        for w in sorted(template.windows, key=lambda w: (w.weekday, w.start_time)):
            sheet.append(
                [
                    template.device.ae_title,
                    template.name,
                    WEEKDAYS_SHORT[w.weekday],
                    w.start_time.strftime("%H:%M"),
                    w.end_time.strftime("%H:%M"),
                    w.capacity,
                    template.slot_minutes,
                    format_be_date(template.valid_from),
                    format_be_date(template.valid_to),
                ]
            )
    return download(book, "capacity-templates.xlsx")


def _groups(rows: list[SheetRow]) -> dict[tuple, list[SheetRow]]:
    groups: dict[tuple, list[SheetRow]] = {}
    for row in rows:
        groups.setdefault(row.key, []).append(row)
    return groups


def _save(actor, now, groups: dict[tuple, list[SheetRow]]) -> int:
    created = 0
    for (device_id, name, slot, valid_from, valid_to), rows in groups.items():
        ops.create_template(
            actor,
            now,
            device=db.session.get(Device, device_id),
            windows=[
                ops.WindowSpec(r.weekday, parse_hhmm(r.start), parse_hhmm(r.end), r.capacity)
                for r in rows
            ],
            slot_minutes=slot,
            valid_from=date.fromisoformat(valid_from) if valid_from else None,
            valid_to=date.fromisoformat(valid_to) if valid_to else None,
            name=name,
            commit=False,
        )
        created += 1
    db.session.commit()
    return created


@bp.route("/capacity/templates/import", methods=["GET", "POST"])
@scheduler_only
def templates_import():
    """Upload → preview (every row, bad ones with their message) → confirm → saved."""
    hub = current_hub()
    devices = _hub_devices(hub)
    rows: list[SheetRow] = []
    problem = None
    if request.method == "POST" and request.form.get("confirm"):
        try:
            raw = json.loads(request.form.get("rows", "[]"))[:MAX_ROWS]
            rows = [check_row(r["number"], [str(v) for v in r["values"]], devices) for r in raw]
        except (ValueError, KeyError, TypeError):
            rows, problem = [], _("The preview could not be read; upload the file again.")
        check_rows(rows)
        if rows and not any(r.errors for r in rows):
            created = attempt(_save, _groups(rows))
            if created is not None:
                flash(_("%(count)s templates imported.", count=created), "success")
                return redirect(url_for("hub.capacity"))
    elif request.method == "POST":
        upload = request.files.get("file")
        data = upload.read(MAX_BYTES + 1) if upload else b""
        if not data:
            problem = _("Choose the .xlsx file to import.")
        elif len(data) > MAX_BYTES:
            problem = _("The file is too large (at most 2 MB).")
        else:
            try:
                rows = read_sheet(data, devices)
            except (openpyxl().InvalidFileException, BadZipFile, OSError, ValueError, KeyError):
                problem = _("This is not an .xlsx file that can be read.")
            else:
                if not rows:
                    problem = _("The sheet has no rows under its header.")
    bad = sum(1 for r in rows if r.errors)
    return render_template(
        "hub/templates_import.html",
        hub=hub,
        rows=rows,
        bad=bad,
        problem=problem,
        headers=_headers(),
        payload=json.dumps([{"number": r.number, "values": r.values} for r in rows]),
    ), (422 if problem or bad else 200)
