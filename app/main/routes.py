"""Home, the request list every role starts from, request detail, language switch."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.args import row_id
from app.extensions import db
from app.pdpa.reads import audit_read
from app.webkit.views import safe_next
from scheduling.access import can_view_request
from scheduling.models import ImagingRequest, Role

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def index():
    if current_user.role is Role.REGION_OFFICE:  # sees aggregates, never a request
        return redirect(url_for("region.index"))
    return redirect(url_for("main.request_list"))


@bp.route("/requests")
@login_required
def request_list():
    if current_user.role is Role.REGION_OFFICE:
        return redirect(url_for("region.index"))
    from app.requests.listing import (
        COUNT_CAP,
        FILTERS,
        normalise_filter,
        request_page,
        status_counts,
    )

    status_filter = normalise_filter(request.args.get("status"))
    before = request.args.get("before", "")
    result = request_page(current_user, status_filter, row_id(before))
    audit_read("request.list", result.requests, requests=[r.id for r in result.requests])
    return render_template(
        "main/request_list.html",
        requests=result.requests,
        page=result,
        filters=FILTERS,
        counts=status_counts(current_user),
        count_cap=COUNT_CAP,
        status_filter=status_filter,
    )


@bp.route("/requests/<int:request_id>")
@login_required
def request_detail(request_id: int):
    imaging_request = db.session.get(ImagingRequest, request_id)
    # 404, not 403, for another hospital's request: do not confirm that it exists.
    if imaging_request is None or not can_view_request(current_user, imaging_request):
        abort(404)
    audit_read("request.view", [imaging_request], entity=imaging_request)
    return render_template("main/request_detail.html", req=imaging_request)


@bp.route("/language/<lang>", methods=["POST"])
def set_language(lang: str):
    if lang in ("th", "en"):
        session["locale"] = lang
        if current_user.is_authenticated:
            current_user.locale = lang
            db.session.commit()
    return redirect(_back())


def _back() -> str:
    """The page the switch was pressed on (the Referer), if it is one of ours."""
    referrer, host = request.referrer or "", request.host_url
    path = "/" + referrer[len(host) :] if referrer.startswith(host) else None
    return safe_next(path, url_for("main.index"))


@bp.route("/healthz")
def healthz():
    db.session.execute(select(1))
    return {"status": "ok"}
