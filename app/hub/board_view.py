"""The day board's read side: devices across (a page of them at a time), time down in
5-minute rows, booked exams as blocks, free capacity as gaps (``scheduling.board``).

Reads only. A big hub has 50 scanners and thousands of bookings a day: every device's
count and booked minutes come from one grouped query; blocks and gaps are built only for
the page of devices shown (``BOARD_PAGE`` of them), and the page says how many there are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.hub import queries
from scheduling.board import Gap, GapFitter, device_gaps
from scheduling.clock import to_local
from scheduling.extra import extra_kinds
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Closure,
    Device,
    ExtraKind,
    Hospital,
    ImagingRequest,
    Patient,
    Priority,
    Procedure,
)
from scheduling.states import LIVE_APPOINTMENT_STATUSES
from scheduling.timetable import closure_applies, day_bounds, device_windows

BOARD_PAGE = 6  # device columns per page: readable at 1366 px, fast at a 50-scanner hub
ROW_MINUTES = 5
MAX_LANES = 6
SEARCH_LIMIT = 50


@dataclass
class Block:
    appointment: BoardBooking
    row: int  # first grid row (1-based)
    span: int
    lane: int
    in_closure: bool = False
    hit: bool = False
    extra: ExtraKind | None = None  # a walk-in or overbooking, beyond the template


@dataclass
class GapCell:
    gap: Gap
    row: int
    span: int
    first_lane: int
    move_start: datetime | None = None  # where the booking being moved would start


@dataclass
class Column:
    day: queries.DeviceDay
    blocks: list[Block] = field(default_factory=list)
    gaps: list[GapCell] = field(default_factory=list)
    lanes: int = 1

    @property
    def extra_count(self) -> int:
        return sum(1 for b in self.blocks if b.extra is not None)

    @property
    def device(self) -> Device:
        return self.day.device


@dataclass
class Board:
    rows: list[queries.DeviceDay]  # every device of the hub (and modality), counted
    columns: list[Column]  # the page shown
    first_minute: int  # local minutes after midnight of row 1
    row_count: int
    page: int
    pages: int
    now_row: int | None
    hits: list[tuple[Appointment, int]]  # search matches, with the page that shows them
    hits_more: bool

    @property
    def total(self) -> int:
        return sum(r.count for r in self.rows)

    def axis(self) -> list[tuple[int, str]]:
        """(row, "HH:MM") every half hour."""
        marks = []
        for row in range(1, self.row_count + 1):
            minute = self.first_minute + (row - 1) * ROW_MINUTES
            if minute % 30 == 0:
                marks.append((row, f"{minute // 60:02d}:{minute % 60:02d}"))
        return marks


@dataclass(frozen=True)
class Named:
    """What ``localized`` reads of a procedure or hospital."""

    name_th: str
    name_en: str


@dataclass(frozen=True)
class PatientName:
    """What ``patient_name`` and a block read of a patient."""

    prefix: str
    given_name_th: str
    family_name_th: str
    given_name_en: str
    family_name_en: str
    medical_alerts: str | None


@dataclass(frozen=True)
class RequestFacts:
    priority: Priority
    procedure: Named
    requesting_hospital: Named


@dataclass(frozen=True)
class BoardBooking:
    """A booking as a block shows it: plain values read in one statement (ORM objects
    with their patient, request, procedure and hospital cost more than the rest of the
    page at a busy hub)."""

    id: int
    device_id: int
    patient_id: int
    status: AppointmentStatus
    start_at: datetime
    end_at: datetime
    updated_at: datetime
    patient: PatientName
    request: RequestFacts


def board_bookings(devices: list[Device], start: datetime, end: datetime) -> list[BoardBooking]:
    if not devices:
        return []
    a, r, p = Appointment, ImagingRequest, Patient
    proc, hosp = aliased(Procedure), aliased(Hospital)
    rows = db.session.execute(
        select(
            a.id,
            a.device_id,
            a.patient_id,
            a.status,
            a.start_at,
            a.end_at,
            a.updated_at,
            p.prefix,
            p.given_name_th,
            p.family_name_th,
            p.given_name_en,
            p.family_name_en,
            p.medical_alerts,
            r.priority,
            proc.name_th,
            proc.name_en,
            hosp.name_th,
            hosp.name_en,
        )  # fmt: skip
        .join(r, r.id == a.request_id)
        .join(p, p.id == a.patient_id)
        .join(proc, proc.id == r.procedure_id)
        .join(hosp, hosp.id == r.requesting_hospital_id)
        .where(
            a.device_id.in_([d.id for d in devices]),
            a.start_at >= start,
            a.start_at < end,
            a.status.in_(queries.OCCUPYING),
        )
        .order_by(a.start_at, a.id)
    ).all()
    return [
        BoardBooking(
            *row[:7],
            patient=PatientName(*row[7:13]),
            request=RequestFacts(row[13], Named(row[14], row[15]), Named(row[16], row[17])),
        )
        for row in rows
    ]


def _minute_of(day: date, value: datetime) -> int:
    """Local minutes after the day's midnight (negative before, > 1440 after)."""
    local = to_local(value)
    return (local.date() - day).days * 1440 + local.hour * 60 + local.minute


def _lanes(appointments: list[BoardBooking]) -> list[int]:
    """Greedy lanes (1-based) so that overlapping blocks sit side by side."""
    ends: list[datetime] = []
    lanes = []
    for a in appointments:
        for i, end in enumerate(ends):
            if end <= a.start_at:
                ends[i] = a.end_at
                lanes.append(i + 1)
                break
        else:
            ends.append(a.end_at)
            lanes.append(len(ends))
    return lanes


def _page_of(devices: list[Device], device_id: int | None, page: int | None) -> int:
    pages = max(1, -(-len(devices) // BOARD_PAGE))
    if device_id is not None:
        for i, d in enumerate(devices):
            if d.id == device_id:
                return i // BOARD_PAGE + 1
    return min(max(page or 1, 1), pages)


def search_day(devices: list[Device], day: date, text: str) -> tuple[list[Appointment], bool]:
    """The day's bookings (shown on the board) whose patient's name or HN matches."""
    words = text.strip()
    if not words or not devices:
        return [], False
    start, end = day_bounds(day)
    like = f"%{words}%"
    query = (
        select(Appointment)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(
            Appointment.device_id.in_([d.id for d in devices]),
            Appointment.start_at >= start,
            Appointment.start_at < end,
            Appointment.status.in_(queries.OCCUPYING),
            or_(
                Patient.given_name_th.ilike(like),
                Patient.family_name_th.ilike(like),
                Patient.given_name_en.ilike(like),
                Patient.family_name_en.ilike(like),
                (Patient.given_name_th + " " + Patient.family_name_th).ilike(like),
                Patient.hospital_numbers.any(hn=words),
            ),
        )
        .order_by(Appointment.start_at, Appointment.id)
        .limit(SEARCH_LIMIT + 1)
    )
    found = list(db.session.scalars(query))
    return found[:SEARCH_LIMIT], len(found) > SEARCH_LIMIT


def build_board(
    hub: Hospital,
    day: date,
    now: datetime,
    *,
    modality: str | None = None,
    device_id: int | None = None,
    page: int | None = None,
    search: str = "",
    moving: Appointment | None = None,
    closures: list[Closure] = (),
) -> Board:
    view = queries.day_counts(hub, day, modality)
    devices = [r.device for r in view]
    hits, hits_more = search_day(devices, day, search)
    if hits and device_id is None and page is None:
        device_id = hits[0].device_id
    page = _page_of(devices, device_id, page)
    pages = max(1, -(-len(devices) // BOARD_PAGE))
    shown = view[(page - 1) * BOARD_PAGE : page * BOARD_PAGE]
    shown_devices = [r.device for r in shown]
    start, end = day_bounds(day)
    by_device: dict[int, list[BoardBooking]] = defaultdict(list)
    for a in board_bookings(shown_devices, start, end):
        by_device[a.device_id].append(a)
    booked = {
        d: [(a.start_at, a.end_at) for a in rows if a.status in LIVE_APPOINTMENT_STATUSES]
        for d, rows in by_device.items()
    }
    day_windows = device_windows(shown_devices, day, day)
    gaps = device_gaps(shown_devices, day, booked, day_windows)
    # The board's hours: the windows of the devices shown and their bookings.
    minutes = [
        m
        for (_, _), windows in day_windows.items()
        for w in windows
        for m in (_minute_of(day, w.start), _minute_of(day, w.end))
    ]
    minutes += [_minute_of(day, a.start_at) for rows in by_device.values() for a in rows]
    minutes += [_minute_of(day, a.end_at) for rows in by_device.values() for a in rows]
    if to_local(now).date() == day:
        minutes.append(_minute_of(day, now) + ROW_MINUTES)
    minutes = [min(max(m, 0), 1440) for m in minutes]
    first = (min(minutes, default=8 * 60) // 60) * 60
    last = -(-max(minutes, default=16 * 60) // 60) * 60
    first, last = min(first, 8 * 60), max(last, first + 60)
    row_count = (last - first) // ROW_MINUTES

    def row_of(value: datetime) -> int:
        minute = min(max(_minute_of(day, value), first), last)
        return (minute - first) // ROW_MINUTES + 1

    def span_of(a: datetime, b: datetime) -> int:
        return max(
            1, min(row_count + 1, -(-(_minute_of(day, b) - first) // ROW_MINUTES) + 1) - row_of(a)
        )

    hit_ids = {a.id for a in hits}
    extras = extra_kinds([a.id for rows in by_device.values() for a in rows])
    fitter = GapFitter(shown_devices) if moving is not None else None
    columns = []
    for row in shown:
        device = row.device
        appointments = by_device.get(device.id, [])
        lanes = _lanes(appointments)
        capacity = max((g.capacity for g in gaps[device.id]), default=1)
        lane_count = min(MAX_LANES, max([capacity, *lanes]))
        column = Column(row, lanes=lane_count)
        device_closures = [
            c for c in closures if closure_applies(c.hospital_id, c.device_id, device)
        ]
        for a, lane in zip(appointments, lanes, strict=True):
            column.blocks.append(
                Block(
                    a,
                    row_of(a.start_at),
                    span_of(a.start_at, a.end_at),
                    min(lane, MAX_LANES),
                    in_closure=a.status in LIVE_APPOINTMENT_STATUSES
                    and any(
                        c.start_at < a.end_at and a.start_at < c.end_at for c in device_closures
                    ),
                    hit=a.id in hit_ids,
                    extra=extras.get(a.id),
                )
            )
        for gap in gaps[device.id]:
            if gap.end <= now:
                continue
            if gap.start < now:
                gap = Gap(gap.device_id, now, gap.end, gap.free, gap.capacity)
            cell = GapCell(
                gap,
                row_of(gap.start),
                span_of(gap.start, gap.end),
                max(1, min(MAX_LANES, lane_count - gap.free + 1)),
            )
            if fitter is not None and device.modality_code == moving.device.modality_code:
                cell.move_start = fitter.first_start(gap, moving.request.procedure)
            column.gaps.append(cell)
        columns.append(column)
    now_minute = _minute_of(day, now)
    now_row = (now_minute - first) // ROW_MINUTES + 1 if first <= now_minute < last else None
    pages_of = {d.id: i // BOARD_PAGE + 1 for i, d in enumerate(devices)}
    return Board(
        rows=view,
        columns=columns,
        first_minute=first,
        row_count=row_count,
        page=page,
        pages=pages,
        now_row=now_row,
        hits=[(a, pages_of.get(a.device_id, 1)) for a in hits],
        hits_more=hits_more,
    )
