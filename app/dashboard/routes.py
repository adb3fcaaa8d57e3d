"""Dashboard pages and their CSV exports. Same filter, same metric function, two renderings."""

from __future__ import annotations

import csv
import io
from datetime import date, time, timedelta

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField
from wtforms.validators import Optional

from app.dashboard.charts import Series, bar_chart
from app.extensions import db
from app.hub import queries
from app.hub.scope import current_hub, hubs
from app.webkit.fields import BEDateField
from app.webkit.forms import RadBookForm, modality_options
from app.webkit.views import locale, role_required
from scheduling import metrics, referrals
from scheduling.clock import local_datetime, local_today, utcnow
from scheduling.models import Hospital, Role
from scheduling.thaidate import EN_MONTHS_SHORT, THAI_MONTHS_SHORT

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
dashboard_access = role_required(Role.SCHEDULER)

DEFAULT_PAST_DAYS = 27
DEFAULT_FUTURE_DAYS = 14


class DashboardForm(RadBookForm):
    class Meta:
        csrf = False  # a GET filter

    modality = SelectField(_l("Modality"), validators=[Optional()])
    date_from = BEDateField(_l("From"), validators=[Optional()])
    date_to = BEDateField(_l("To"), validators=[Optional()])


def _filters() -> tuple[DashboardForm, Hospital, str | None, date, date, bool]:
    hub = current_hub()
    form = DashboardForm(request.args)
    modalities = queries.hub_modalities(hub)
    form.modality.choices = modality_options(modalities, first=("", _("All modalities")))
    valid = form.validate()
    today = local_today()
    first = form.date_from.data or today - timedelta(days=DEFAULT_PAST_DAYS)
    last = form.date_to.data or today + timedelta(days=DEFAULT_FUTURE_DAYS)
    if valid and last < first:
        form.date_to.errors.append(_("The end is before the start"))
        valid = False
    if valid and (last - first).days >= metrics.MAX_DAYS:
        form.date_to.errors.append(_("Choose at most %(days)s days", days=metrics.MAX_DAYS))
        valid = False
    if not valid:
        first, last = (
            today - timedelta(days=DEFAULT_PAST_DAYS),
            today + timedelta(days=DEFAULT_FUTURE_DAYS),
        )
    form.date_from.data, form.date_to.data = first, last
    modality = form.modality.data or None
    return form, hub, modality, first, last, valid


def _day_label(day: date) -> str:
    months = EN_MONTHS_SHORT if locale() == "en" else THAI_MONTHS_SHORT
    return f"{day.day} {months[day.month - 1]}"


def _short_name(hospital_name: str) -> str:
    return hospital_name.replace("โรงพยาบาล", "รพ.").replace(" Hospital", "")


def _quota_label(row: metrics.HospitalQuotaUse) -> str:
    if row.hospital_id is None:
        return _("Hub reserve")
    return _short_name(row.hospital_name_en if locale() == "en" else row.hospital_name_th)


def _data(hub: Hospital, modality: str | None, first: date, last: date) -> dict:
    return {
        "capacity": metrics.capacity_used_per_day(hub.id, modality, first, last),
        "waiting": metrics.days_request_to_exam(hub.id, modality, first, last),
        "no_shows": metrics.no_show_rate(hub.id, modality, first, last, utcnow()),
        "quotas": metrics.quota_use_per_hospital(hub.id, modality, first, last),
    }


@bp.route("/")
@dashboard_access
def index():
    form, hub, modality, first, last, _valid = _filters()
    data = _data(hub, modality, first, last)
    charts = {
        "capacity": bar_chart(
            _("Capacity used per day"),
            [_day_label(d.day) for d in data["capacity"]],
            [Series(_("Booked share of bookable time"), [d.used for d in data["capacity"]])],
            percent=True,
            y_max=max([1.0] + [d.used or 0 for d in data["capacity"]]),
            description=_("Booked minutes divided by bookable minutes, per day."),
        ),
        "waiting": bar_chart(
            _("Median days from request to exam"),
            [_day_label(w.week) for w in data["waiting"]],
            [Series(_("Median days"), [w.median_days for w in data["waiting"]])],
            description=_(
                "Per week of the exam: the median days between the request and the exam."
            ),
        ),
        "no_shows": bar_chart(
            _("No-show rate"),
            [_day_label(w.week) for w in data["no_shows"]],
            [Series(_("No-shows"), [w.rate for w in data["no_shows"]], css="bar-c")],
            percent=True,
            y_max=max([0.2] + [w.rate or 0 for w in data["no_shows"]]),
            description=_("Per week: no-shows divided by appointments that have started."),
        ),
        "quotas": bar_chart(
            _("Quota use per community hospital"),
            [_quota_label(q) for q in data["quotas"]],
            [
                Series(_("Reserved"), [q.reserved for q in data["quotas"]], css="bar-b"),
                Series(_("Used"), [q.used for q in data["quotas"]], css="bar-a"),
            ],
            description=_("Bookings held for each hospital in the period, and how many it used."),
            label_every=1,
        ),
    }
    # Only the filters go into the CSV links: any other query key (``?metric=x``, found
    # by tests/fuzz/web) would collide with url_for's own arguments.
    args = {k: v for k, v in request.args.items() if v and k in ("hub", *form._fields)}
    return render_template(
        "dashboard/index.html",
        form=form,
        hub=hub,
        hubs=hubs(),
        first=first,
        last=last,
        data=data,
        charts=charts,
        args=args,
        quota_label=_quota_label,
        day_label=_day_label,
        referral_share=_referral_share(hub, first, last),
    )


def _referral_share(hub: Hospital, first: date, last: date) -> list[referrals.OnlineShare]:
    """Referral images online against sent on CD, for the requests made in the period."""
    return referrals.online_share(
        hub_hospital_id=hub.id,
        since=local_datetime(first, time.min),
        until=local_datetime(last + timedelta(days=1), time.min),
    )


CSV_HEADERS = {
    "capacity": [
        "hub_code",
        "modality",
        "date",
        "bookings",
        "booked_minutes",
        "bookable_minutes",
        "used_share",
    ],
    "waiting": ["hub_code", "modality", "week_starting", "exams", "median_days"],
    "no-shows": [
        "hub_code",
        "modality",
        "week_starting",
        "appointments",
        "no_shows",
        "no_show_rate",
    ],
    "quotas": [
        "hub_code",
        "modality",
        "hospital_code",
        "hospital",
        "reserved",
        "used",
        "used_share",
    ],
}


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


@bp.route("/<metric>.csv")
@dashboard_access
def export(metric: str):
    if metric not in CSV_HEADERS:
        abort(404)
    form, hub, modality, first, last, valid = _filters()
    if not valid:
        abort(400)
    prefix = [hub.code, modality or "ALL"]
    rows: list[list] = []
    if metric == "capacity":
        rows = [
            prefix
            + [d.day.isoformat(), d.bookings, d.booked_minutes, d.capacity_minutes, _share(d.used)]
            for d in metrics.capacity_used_per_day(hub.id, modality, first, last)
        ]
    elif metric == "waiting":
        rows = [
            prefix + [w.week.isoformat(), w.exams, "" if w.median_days is None else w.median_days]
            for w in metrics.days_request_to_exam(hub.id, modality, first, last)
        ]
    elif metric == "no-shows":
        rows = [
            prefix + [w.week.isoformat(), w.appointments, w.no_shows, _share(w.rate)]
            for w in metrics.no_show_rate(hub.id, modality, first, last, utcnow())
        ]
    else:
        codes = {h.id: h.code for h in db.session.scalars(select(Hospital))}
        rows = [
            prefix
            + [
                codes.get(q.hospital_id, "") if q.hospital_id else "",
                q.hospital_name_th or "hub reserve",
                q.reserved,
                q.used,
                _share(q.share),
            ]
            for q in metrics.quota_use_per_hospital(hub.id, modality, first, last)
        ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADERS[metric])
    writer.writerows(rows)
    name = f"{metric}-{hub.code}-{modality or 'all'}-{first.isoformat()}-{last.isoformat()}.csv"
    # BOM: Excel (what Thai offices open CSVs with) then reads the Thai names as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
