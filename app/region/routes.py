"""Region office pages: one view, its .xlsx export, and the office's waiting targets.

Scoped by the account: a region office sees its own region (``User.region``) and
nothing else; an admin chooses one with ``?region=``. Nothing here names a patient.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, time, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.args import int_arg
from app.dashboard.charts import Series, bar_chart
from app.extensions import db
from app.region.workbook import workbook
from app.webkit.views import attempt, locale, role_required
from scheduling import referrals, region_stats, regions
from scheduling.clock import local_datetime, local_today, utcnow
from scheduling.i18n import N_
from scheduling.models import Modality, Role

bp = Blueprint("region", __name__, url_prefix="/region")
office_only = role_required(Role.REGION_OFFICE)

# The periods offered: (key, label msgid, days back from today, days ahead).
PERIODS = {
    "past4": (N_("Past 4 weeks"), 27, 0),
    "past12": (N_("Past 12 weeks"), 83, 0),
    "next4": (N_("Coming 4 weeks"), 0, 27),
}
DEFAULT_PERIOD = "past4"


@dataclass(frozen=True)
class RegionReport:
    region: int
    first: date
    last: date
    scanners: list
    modalities: list
    figures: list
    referrers: list  # the same figures per requesting hospital
    quotas: list
    targets: dict
    referral_share: list  # referral images online against sent on CD, per referrer


def _region() -> int:
    if current_user.role is Role.REGION_OFFICE:
        if current_user.region not in regions.REGIONS:
            abort(403)  # an office account without its region sees nothing
        return current_user.region
    region = int_arg("region") or 7
    if region not in regions.REGIONS:
        abort(404)
    return region


def _period() -> tuple[str, date, date]:
    key = request.args.get("period", DEFAULT_PERIOD)
    if key not in PERIODS:
        key = DEFAULT_PERIOD
    _label, back, ahead = PERIODS[key]
    today = local_today()
    return key, today - timedelta(days=back), today + timedelta(days=ahead)


def report(region: int, first: date, last: date) -> RegionReport:
    scanners = region_stats.scanner_use(region, first, last)
    return RegionReport(
        region,
        first,
        last,
        scanners,
        region_stats.modality_use(scanners),
        region_stats.hub_modality_figures(region, first, last, utcnow()),
        region_stats.hub_modality_figures(region, first, last, utcnow(), by_referrer=True),
        region_stats.quota_use_by_referrer(region, first, last),
        region_stats.targets(region),
        referrals.online_share(
            requesting_hospital_ids=[h.id for h in region_stats.region_hospitals(region)],
            since=local_datetime(first, time.min),
            until=local_datetime(last + timedelta(days=1), time.min),
        ),
    )


def short_name(hospital) -> str:
    name = hospital.display_name(locale())
    return name.replace("โรงพยาบาล", "รพ.").replace(" Hospital", "")


def _charts(data: RegionReport) -> dict:
    return {
        "modalities": bar_chart(
            _("Capacity used per modality"),
            [m.modality_code for m in data.modalities],
            [Series(_("Booked share of bookable time"), [m.used for m in data.modalities])],
            percent=True,
            y_max=max([1.0] + [m.used or 0 for m in data.modalities]),
            description=_("Booked over bookable minutes, all scanners of a modality."),
            label_every=1,
        ),
        "waiting": bar_chart(
            _("Days from request to exam"),
            [f"{short_name(f.hub)} {f.modality_code}" for f in data.figures],
            [
                Series(_("Median"), [f.median_days for f in data.figures], css="bar-a"),
                Series(_("90th percentile"), [f.p90_days for f in data.figures], css="bar-b"),
            ],
            description=_("Per hub and modality, exams that took place in the period."),
            label_every=1,
        ),
        "returns": bar_chart(
            _("Images and report back, linked"),
            [f"{short_name(f.hub)} {f.modality_code}" for f in data.figures],
            [Series(_("Share of completed exams"), [f.linked_share for f in data.figures])],
            percent=True,
            y_max=1.0,
            description=_("Completed exams whose images and report came back linked."),
            label_every=1,
        ),
    }


@bp.route("/")
@office_only
def index():
    region = _region()
    key, first, last = _period()
    data = report(region, first, last)
    modalities = db.session.scalars(select(Modality).order_by(Modality.code)).all()
    return render_template(
        "region/index.html",
        data=data,
        charts=_charts(data),
        region_title=regions.region_name(region, locale()),
        period=key,
        periods={k: _(v[0]) for k, v in PERIODS.items()},
        modalities=modalities,
        short_name=short_name,
        admin_region=region if current_user.role is Role.ADMIN else None,
    )


@bp.route("/export.xlsx")
@office_only
def export():
    region = _region()
    _key, first, last = _period()
    book = workbook(report(region, first, last), locale())
    out = io.BytesIO()
    book.save(out)
    name = f"radbook-region{region}-{first.isoformat()}-{last.isoformat()}.xlsx"
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/targets", methods=["POST"])
@office_only
def set_target():
    region = _region()
    days = int_arg("target_days", source=request.form)
    saved = attempt(
        region_stats.set_wait_target,
        region,
        request.form.get("modality_code", ""),
        days if days is not None else 0,
    )
    if saved is not None:
        flash(_("Target saved"), "success")
    args = {"region": region} if current_user.role is Role.ADMIN else {}
    return redirect(url_for("region.index", **args))
