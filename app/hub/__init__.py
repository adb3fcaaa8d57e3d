"""The hub: schedulers' inbox, day and week views, capacity editors; radiologists' exam list."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask

from app.hub import (  # noqa: F401  (each adds its views to routes.bp)
    actions,
    board,
    capacity,
    closure_views,
    exports,
    identity,
    reconcile,
    routes,
    template_xlsx,
    vetting,
    waitlist_views,
)
from app.navigation import add_nav_item
from app.webkit.views import locale
from scheduling.clock import local_today, to_local
from scheduling.i18n import N_
from scheduling.models import Role


def age_years(born: date, on: date | None = None) -> int:
    on = on or local_today()
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


WEEKDAYS_SHORT = {
    "th": ("จ.", "อ.", "พ.", "พฤ.", "ศ.", "ส.", "อา."),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def weekday_short(day: date) -> str:
    return WEEKDAYS_SHORT.get(locale(), WEEKDAYS_SHORT["th"])[day.weekday()]


def localdate(value: datetime) -> str:
    """The local calendar day of an instant, ISO-formatted for links (``?date=``)."""
    return to_local(value).date().isoformat()


def init_app(app: Flask) -> None:
    app.register_blueprint(routes.bp)
    app.add_template_filter(age_years)
    app.add_template_filter(localdate)
    app.add_template_filter(weekday_short)
    add_nav_item(app, "hub.inbox", N_("Inbox"), {Role.SCHEDULER}, order=19)
    add_nav_item(app, "hub.day", N_("Day view"), {Role.SCHEDULER}, order=20)
    add_nav_item(app, "hub.week", N_("Week view"), {Role.SCHEDULER}, order=21)
    add_nav_item(app, "hub.capacity", N_("Capacity"), {Role.SCHEDULER}, order=22)
    add_nav_item(app, "hub.exams", N_("Exams"), {Role.RADIOLOGIST}, order=30)
    add_nav_item(app, "hub.vetting_queue", N_("Vetting"), {Role.RADIOLOGIST}, order=29)
    add_nav_item(app, "hub.protocols", N_("Protocols"), {Role.RADIOLOGIST}, order=32)
    add_nav_item(
        app,
        "hub.reconciliation",
        N_("Studies to reconcile"),
        {Role.SCHEDULER, Role.RADIOLOGIST},
        order=31,
    )
