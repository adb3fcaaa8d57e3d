"""Studies waiting for reconciliation: a study whose patient, as the PACS or the scanner
reported it, did not match its request's patient was not linked. A scheduler or a
radiologist of the hub sees both identities side by side and confirms the study (it is
linked) or rejects it (it is never linked to that request); either is audited."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.hub.routes import bp
from app.hub.scope import current_hub
from app.pdpa.reads import audit_read
from app.webkit.views import attempt, role_required
from scheduling.access import can_view_request
from scheduling.models import (
    ImagingRequest,
    Patient,
    ReconciliationStatus,
    Role,
    StudyReconciliation,
)
from scheduling.patients import record_at
from scheduling.studies import ReportedIdentity, decide_reconciliation

hub_staff = role_required(Role.SCHEDULER, Role.RADIOLOGIST)


@dataclass
class Held:
    row: StudyReconciliation
    request: ImagingRequest
    ours: Patient  # the hub's own record if it keeps one, else the request's
    hub_hn: str | None
    reported: ReportedIdentity
    problems: list[str]


def _held(row: StudyReconciliation, hub_id: int) -> Held:
    hub_record = record_at(row.request.patient, hub_id)
    return Held(
        row=row,
        request=row.request,
        ours=hub_record or row.request.patient,
        hub_hn=hub_record.hn if hub_record is not None else None,
        reported=ReportedIdentity.from_dict(row.reported or {}),
        problems=[p for p in row.problems.split(",") if p],
    )


@bp.route("/reconciliation")
@hub_staff
def reconciliation():
    hub = current_hub()
    rows = [
        row
        for row in db.session.scalars(
            select(StudyReconciliation)
            .where(
                StudyReconciliation.hub_hospital_id == hub.id,
                StudyReconciliation.status == ReconciliationStatus.PENDING,
            )
            .options(selectinload(StudyReconciliation.request).selectinload(ImagingRequest.patient))
            .order_by(StudyReconciliation.created_at, StudyReconciliation.id)
        )
        if can_view_request(current_user, row.request)
    ]
    audit_read("hub.reconciliation", [r.request for r in rows], held=[r.id for r in rows])
    return render_template(
        "hub/reconciliation.html", hub=hub, held=[_held(r, hub.id) for r in rows]
    )


def _own_held(reconciliation_id: int) -> StudyReconciliation:
    hub = current_hub()
    row = db.session.get(StudyReconciliation, reconciliation_id)
    # 404 for another hub's (or a request the user may not see): do not confirm it exists.
    if (
        row is None
        or row.hub_hospital_id != hub.id
        or not can_view_request(current_user, row.request)
    ):
        abort(404)
    return row


def _decide(reconciliation_id: int, confirm: bool):
    row = _own_held(reconciliation_id)
    audit_read("hub.reconciliation_item", [row.request], entity=row, page=request.endpoint)
    if attempt(decide_reconciliation, row, confirm=confirm) is not None:
        flash(
            _("The study was linked to the request.")
            if confirm
            else _("The study was rejected for this request."),
            "success",
        )
    return redirect(url_for("hub.reconciliation"))


@bp.route("/reconciliation/<int:reconciliation_id>/confirm", methods=["POST"])
@hub_staff
def reconciliation_confirm(reconciliation_id: int):
    return _decide(reconciliation_id, confirm=True)


@bp.route("/reconciliation/<int:reconciliation_id>/reject", methods=["POST"])
@hub_staff
def reconciliation_reject(reconciliation_id: int):
    return _decide(reconciliation_id, confirm=False)
