"""The day board's blocks and gaps as HTML, written in Python.

A page holds hundreds of blocks; rendering each through Jinja (filters, macros,
``url_for`` per link) cost most of the page's server time. Everything that is the same
for every block (labels, URL patterns, the CSRF token) is looked up once per page here,
and each block is one f-string. The buttons are those of ``hub/_appt_actions.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, urlencode

from flask import url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from app.filters import localized, patient_name
from app.hub.board_view import Block, BoardBooking, Column, GapCell
from scheduling.clock import to_local
from scheduling.models import Appointment, AppointmentStatus

OPEN = (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)


def _hhmm(value) -> str:
    return to_local(value).strftime("%H:%M")


@dataclass
class BoardHtml:
    """Per-page constants; ``block``/``gap`` make one element each."""

    here: str  # this board page's URL (the "next" of every action)
    day: date
    undo_day: date
    labels: dict  # enum labels
    l: dict  # board labels  # noqa: E741
    t: dict  # action labels
    urls: dict  # action URL patterns with {id}
    moving: Appointment | None
    move_base: str  # the board URL with move=

    @classmethod
    def for_page(cls, *, here, day, undo_day, labels, l, t, urls, moving, modality, page):  # noqa: E741
        move_base = url_for("hub.day", date=day.isoformat(), modality=modality or None, page=page)
        return cls(here, day, undo_day, labels, l, t, urls, moving, move_base)

    def __post_init__(self) -> None:
        self.csrf = generate_csrf()
        self.gap_url = url_for("hub.gap_book")
        self.slip_url = url_for("hub.appointment_slip", appointment_id=987654321).replace(
            "987654321", "{id}"
        )
        self.next_q = quote(self.here, safe="")

    def _post(self, action: str, label: str, extra: str = "", back: str = "") -> str:
        return (
            f'<form method="post" action="{action}">'
            f'<input type="hidden" name="csrf_token" value="{self.csrf}">'
            f'<input type="hidden" name="next" value="{escape(back)}">{extra}'
            f'<button type="submit" class="btn">{escape(label)}</button></form>'
        )

    def _actions(self, a: BoardBooking) -> str:
        i = str(a.id)
        back = f"{self.here}#appt-{i}"
        back_q = f"{self.next_q}%23appt-{i}"
        u, t = self.urls, self.t
        out = []
        if a.status is AppointmentStatus.BOOKED:
            out.append(self._post(u["arrive"].replace("{id}", i), t["arrived"], back=back))
            href = f"{u['no_show'].replace('{id}', i)}?next={back_q}"
            out.append(f'<a class="btn" href="{href}">{escape(t["no_show"])}</a>')
        if a.status in (AppointmentStatus.ARRIVED, AppointmentStatus.IN_PROGRESS):
            out.append(self._post(u["complete"].replace("{id}", i), t["done"], back=back))
        if a.status in OPEN:
            move_href = u["move"].replace("{id}", i)
            cancel_href = f"{u['cancel'].replace('{id}', i)}?next={back_q}"
            out.append(f'<a class="btn" href="{move_href}">{escape(t["move"])}</a>')
            out.append(f'<a class="btn" href="{cancel_href}">{escape(t["cancel"])}</a>')
            out.append(
                f'<a class="btn" href="{self.slip_url.replace("{id}", i)}">{escape(t["slip"])}</a>'
            )
            out.append(
                f'<a class="btn move-link" href="{escape(self.move_base)}&amp;move={i}">'
                f"{escape(t['move_here'])}</a>"
            )
        if a.status is AppointmentStatus.NO_SHOW and to_local(a.updated_at).date() == self.undo_day:
            out.append(
                self._post(u["undo_no_show"].replace("{id}", i), t["undo_no_show"], back=back)
            )
        out.append(f'<a href="{u["exam"].replace("{id}", i)}">{escape(t["details"])}</a>')
        return "".join(out)

    def block(self, b: Block, ae_title: str) -> Markup:
        a = b.appointment
        req = a.request
        status, priority = a.status.name.lower(), req.priority.name.lower()
        css = f"blk gr-{b.row} gs-{b.span} ln-{b.lane} st-{status} pr-{priority}"
        badges = (
            f'<span class="badge badge-{priority}">{escape(self.labels[req.priority])}</span> '
            f'<span class="badge badge-{status}">{escape(self.labels[a.status])}</span>'
        )
        if b.in_closure:
            css += " in-closure"
            badges += f' <span class="badge badge-stat">{escape(self.l["in_closure"])}</span>'
        if b.extra is not None:
            css += " extra"
            kind = self.l["walk_in"] if b.extra.name == "WALK_IN" else self.l["overbook"]
            badges += f' <span class="badge">{escape(kind)}</span>'
        if b.hit:
            css += " hit"
        if self.moving is not None and self.moving.id == a.id:
            css += " moving"
        alert = ""
        if a.patient.medical_alerts:
            alert = (
                f' <span class="badge badge-urgent" title="{escape(a.patient.medical_alerts)}">'
                f"{escape(self.l['alert'])}</span>"
            )
        start = _hhmm(a.start_at)
        return Markup(
            f'<details id="appt-{a.id}" class="{css}"><summary><strong>{start}</strong> '
            f"{escape(patient_name(a.patient))}{alert}<br>"
            f"{escape(localized(req.procedure))} · {escape(localized(req.requesting_hospital))}"
            f"<br>{badges}</summary>"
            f'<div class="blk-menu"><p><strong>{start}–{_hhmm(a.end_at)}</strong> · '
            f"<code>{escape(ae_title)}</code></p>"
            f'<div class="actions">{self._actions(a)}</div></div></details>'
        )

    def gap(self, cell: GapCell, column: Column) -> Markup:
        g = cell.gap
        device = column.device
        css = f"gap gr-{cell.row} gs-{cell.span} lf-{cell.first_lane}"
        span = f"{_hhmm(g.start)}–{_hhmm(g.end)}"
        if self.moving is not None:
            if cell.move_start is None:
                return Markup(f'<div class="{css}"><span class="muted">{span}</span></div>')
            at = _hhmm(cell.move_start)
            label = escape(self.l["move_here"])
            action = self.urls["move"].replace("{id}", str(self.moving.id))
            slot = f"{device.id}|{cell.move_start.isoformat()}"
            return Markup(
                f'<div class="{css} target"><form method="post" action="{action}">'
                f'<input type="hidden" name="csrf_token" value="{self.csrf}">'
                f'<input type="hidden" name="slot" value="{escape(slot)}">'
                f'<button type="submit" aria-label="{label} {at} {escape(device.ae_title)}">'
                f"{label} {at}</button></form></div>"
            )
        query = urlencode(
            {"device": device.id, "start": g.start.isoformat(), "end": g.end.isoformat()}
        )
        free = f" · {g.free} {escape(self.l['free'])}" if g.capacity > 1 else ""
        return Markup(
            f'<div class="{css}"><a href="{self.gap_url}?{escape(query)}" '
            f'aria-label="{escape(self.l["book_gap"])} {span} {escape(device.ae_title)}">'
            f"{span}{free}</a></div>"
        )
