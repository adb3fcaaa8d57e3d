"""Capacity editors for hub schedulers: weekly templates, quotas (with their use), closures.

Every change is one call into ``scheduling.capacity``; the operation's refusal is shown
beside the field it concerns (mapped from its stable ``code``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.hub import queries
from app.hub.capacity_forms import (
    WEEKDAY_LABELS,
    ClosureForm,
    QuotaEditForm,
    QuotaForm,
    TemplateForm,
)
from app.hub.routes import bp
from app.hub.scope import current_hub
from app.hub.waitlist_views import offer_first_or
from app.webkit.forms import device_options, hospital_options, options
from app.webkit.views import attempt, locale, role_required
from scheduling import capacity as ops
from scheduling.clock import local_datetime, local_today, utcnow
from scheduling.closures_move import affected as affected_bookings
from scheduling.closures_move import freed_devices
from scheduling.i18n import N_
from scheduling.models import CapacityTemplate, Closure, ClosureKind, Device, Hospital, Quota, Role

scheduler_only = role_required(Role.SCHEDULER)

# Which form field an operation's error code belongs to.
FIELD_OF_CODE = {
    "weekday": "windows", "window": "windows", "window-overlap": "windows",
    "capacity": "windows", "slot-length": "slot_minutes", "horizon": "horizon_days",
    "validity": "valid_to", "closure": "end_time", "closure-past": "day",
    "closure-device": "device_id", "closure-hospital": "kind", "quota-scope": "device_id",
    "quota-device": "device_id", "quota-day": "on_date", "quota-slots": "slots",
}  # fmt: skip
BLANK_WINDOW_ROWS = 3
QUOTA_USE_DAYS = 7


def _call(form, operation, *args, **kwargs):
    """The operation's refusal goes beside the field its code belongs to, else is flashed."""
    return attempt(operation, *args, form=form, fields=FIELD_OF_CODE, **kwargs)


def _hub_device(device_id: int) -> Device:
    device = db.session.get(Device, device_id)
    if device is None or device.hospital_id != current_hub().id:
        abort(404)
    return device


@bp.route("/capacity")
@scheduler_only
def capacity():
    hub = current_hub()
    devices = queries.hub_devices(hub, active_only=False)
    templates: dict[int, list[CapacityTemplate]] = defaultdict(list)
    for template in ops.templates_for_hub(hub.id):
        templates[template.device_id].append(template)
    today = local_today()
    quotas = list(
        db.session.scalars(
            select(Quota)
            .where(Quota.hub_hospital_id == hub.id)
            .order_by(Quota.is_active.desc(), Quota.referring_hospital_id, Quota.id)
        )
    )
    use: dict[int, list] = defaultdict(list)
    for row in ops.quota_usage(hub.id, today, today + timedelta(days=QUOTA_USE_DAYS - 1)):
        use[row.quota_id].append(row)
    start = local_datetime(today, time.min)
    closures = ops.closures_between(
        start, start + timedelta(days=120), hospital_id=hub.id, include_inactive=True
    )
    affected = {c.id: len(affected_bookings(c, hub.id)) for c in closures if c.is_active}
    return render_template(
        "hub/capacity.html",
        hub=hub,
        devices=devices,
        templates=templates,
        quotas=quotas,
        use=use,
        closures=closures,
        affected=affected,
        weekday_labels=WEEKDAY_LABELS,
        hospital_names={
            h.id: h.display_name(locale()) for h in db.session.scalars(select(Hospital))
        },
        device_names={d.id: d.ae_title for d in devices},
        days=QUOTA_USE_DAYS,
        one_minute=timedelta(minutes=1),
        summarise_windows=summarise_windows,
    )


# -- templates ---------------------------------------------------------------------------


def summarise_windows(windows) -> list[str]:
    """``จันทร์–ศุกร์ 08:30–16:00``: weekdays with the same hours grouped into runs."""
    by_day: dict[int, tuple] = defaultdict(tuple)
    for w in windows:
        by_day[w.weekday] += ((w.start_time, w.end_time, w.capacity),)
    lines, day = [], 0
    while day < 7:
        hours = by_day.get(day)
        if not hours:
            day += 1
            continue
        end = day
        while end + 1 < 7 and by_day.get(end + 1) == hours:
            end += 1
        days = (
            str(WEEKDAY_LABELS[day])
            if end == day
            else (f"{WEEKDAY_LABELS[day]}–{WEEKDAY_LABELS[end]}")
        )
        times = ", ".join(
            f"{a.strftime('%H:%M')}–{b.strftime('%H:%M')}" + (f" × {n}" if n > 1 else "")
            for a, b, n in hours
        )
        lines.append(f"{days} {times}")
        day = end + 1
    return lines


def _fill_windows(form: TemplateForm, template: CapacityTemplate | None) -> None:
    if request.method == "GET":
        rows = [
            {"weekday": w.weekday, "start": w.start_time, "end": w.end_time, "capacity": w.capacity}
            for w in (template.windows if template else [])
        ]
        while form.windows.entries:
            form.windows.pop_entry()
        for row in rows + [{}] * BLANK_WINDOW_ROWS:
            form.windows.append_entry(row or None)
    choices = _weekday_options(first=("", "—"))
    for entry in form.windows:
        entry.form.weekday.choices = choices


def _weekday_options(first):
    return options(((i, str(label)) for i, label in enumerate(WEEKDAY_LABELS)), first)


def _window_specs(form: TemplateForm) -> list[ops.WindowSpec] | None:
    specs, ok = [], True
    placed: list[tuple] = []
    for entry in form.windows:
        row = entry.form
        if row.weekday.data is None:
            continue
        if row.start.errors or row.end.errors:
            ok = False
            continue
        if row.start.data is None or row.end.data is None:
            row.start.errors = [*row.start.errors, _("Enter both times")]
            ok = False
            continue
        if row.end.data <= row.start.data:
            # The message goes on the row at fault, not on the whole table.
            row.end.errors = [*row.end.errors, _("A window must end after it starts")]
            ok = False
            continue
        clash = next(
            (
                other
                for other, spec in placed
                if spec.weekday == row.weekday.data
                and row.start.data < spec.end
                and spec.start < row.end.data
            ),
            None,
        )
        if clash is not None:
            row.start.errors = [*row.start.errors, _("Two windows on the same weekday overlap")]
            ok = False
            continue
        spec = ops.WindowSpec(
            row.weekday.data, row.start.data, row.end.data, row.capacity.data or 1
        )
        placed.append((row, spec))
        specs.append(spec)
    if ok and not specs:
        form.windows.errors = [_("Add at least one weekday window")]
        ok = False
    return specs if ok else None


@bp.route(
    "/capacity/devices/<int:device_id>/templates/new",
    methods=["GET", "POST"],
    defaults={"template_id": None},
)
@bp.route(
    "/capacity/templates/<int:template_id>", methods=["GET", "POST"], defaults={"device_id": None}
)
@scheduler_only
def template_edit(device_id: int | None, template_id: int | None):
    template = None
    if template_id is not None:
        template = db.session.get(CapacityTemplate, template_id)
        if template is None:
            abort(404)
        device = _hub_device(template.device_id)
    else:
        device = _hub_device(device_id)
    form = TemplateForm(obj=template if request.method == "GET" else None)
    _fill_windows(form, template)
    valid = form.validate_on_submit()
    specs = _window_specs(form) if form.is_submitted() else None
    if valid and specs is not None:
        values = dict(
            windows=specs,
            slot_minutes=form.slot_minutes.data,
            valid_from=form.valid_from.data,
            valid_to=form.valid_to.data,
            lead_time_minutes=form.lead_time_minutes.data,
            horizon_days=form.horizon_days.data,
            name=form.name.data or "",
        )
        if template is None:
            saved = _call(form, ops.create_template, device=device, **values)
        else:
            saved = _call(
                form, ops.update_template, template, is_active=form.is_active.data, **values
            )
        if saved is not None:
            flash(_("Opening hours of %(device)s saved.", device=device.ae_title), "success")
            return redirect(url_for("hub.capacity"))
    return render_template("hub/template_edit.html", form=form, device=device, template=template)


# -- quotas ------------------------------------------------------------------------------


@bp.route("/capacity/quotas/new", methods=["GET", "POST"])
@scheduler_only
def quota_new():
    hub = current_hub()
    form = QuotaForm()
    requesters = db.session.scalars(
        select(Hospital).where(Hospital.id != hub.id).order_by(Hospital.is_hub, Hospital.code)
    )
    form.referring_hospital_id.choices = hospital_options(
        requesters, first=(0, _("The hub's own reserve (walk-ins, inpatients, urgent)"))
    )
    form.device_id.choices = device_options(queries.hub_devices(hub), first=(0, "—"))
    form.modality_code.choices = options(
        ((m.code, m.code) for m in queries.hub_modalities(hub)), first=("", "—")
    )
    form.weekday.choices = _weekday_options(first=("", _("Every day")))
    if form.validate_on_submit():
        device = db.session.get(Device, form.device_id.data) if form.device_id.data else None
        saved = _call(
            form,
            ops.create_quota,
            hub_hospital_id=hub.id,
            referring_hospital_id=form.referring_hospital_id.data or None,
            slots=form.slots.data,
            device=device,
            modality_code=form.modality_code.data or None,
            weekday=form.weekday.data,
            on_date=form.on_date.data,
            release_hours=form.release_hours.data,
            valid_from=form.valid_from.data,
            valid_to=form.valid_to.data,
        )
        if saved is not None:
            flash(_("Quota saved."), "success")
            return redirect(url_for("hub.capacity", _anchor="quotas"))
    return render_template("hub/quota_edit.html", form=form, quota=None)


@bp.route("/capacity/quotas/<int:quota_id>", methods=["GET", "POST"])
@scheduler_only
def quota_edit(quota_id: int):
    hub = current_hub()
    quota = db.session.get(Quota, quota_id)
    if quota is None or quota.hub_hospital_id != hub.id:
        abort(404)
    form = QuotaEditForm(obj=quota)
    if form.validate_on_submit():
        saved = _call(
            form,
            ops.update_quota,
            quota,
            slots=form.slots.data,
            release_hours=form.release_hours.data,
            is_active=form.is_active.data,
            valid_to=form.valid_to.data,
        )
        if saved is not None:
            flash(_("Quota saved."), "success")
            return redirect(url_for("hub.capacity", _anchor="quotas"))
    return render_template("hub/quota_edit.html", form=form, quota=quota)


# -- closures ----------------------------------------------------------------------------

CLOSURE_KIND_LABELS = {
    ClosureKind.PUBLIC_HOLIDAY: N_("Public holiday (everyone)"),
    ClosureKind.HOSPITAL: N_("The whole hospital"),
    ClosureKind.DEVICE_DOWNTIME: N_("One device (downtime)"),
}


@bp.route("/capacity/closures/new", methods=["GET", "POST"])
@scheduler_only
def closure_new():
    hub = current_hub()
    form = ClosureForm()
    kinds = [ClosureKind.DEVICE_DOWNTIME, ClosureKind.HOSPITAL]
    if current_user.role is Role.ADMIN:
        kinds.append(ClosureKind.PUBLIC_HOLIDAY)
    form.kind.choices = options([(k.name, _(CLOSURE_KIND_LABELS[k])) for k in kinds])
    form.device_id.choices = device_options(queries.hub_devices(hub), first=(0, "—"))
    if form.validate_on_submit():
        kind = ClosureKind[form.kind.data]
        device = db.session.get(Device, form.device_id.data) if form.device_id.data else None
        if device is not None and device.hospital_id != hub.id:
            abort(400)
        start_at, end_at = _closure_period(form)
        saved = _call(
            form,
            ops.add_closure,
            kind=kind,
            start_at=start_at,
            end_at=end_at,
            hospital_id=hub.id if kind is ClosureKind.HOSPITAL else None,
            device=device if kind is ClosureKind.DEVICE_DOWNTIME else None,
            name_th=form.name_th.data,
            name_en=form.name_en.data or "",
        )
        if saved is not None:
            moved = len(affected_bookings(saved, hub.id))
            if moved:
                flash(
                    _("Closure added. %(count)s bookings fall in it: move them now.", count=moved),
                    "warning",
                )
                return redirect(url_for("hub.closure_bookings", closure_id=saved.id))
            flash(_("Closure added. No booking falls in it."), "success")
            return redirect(url_for("hub.capacity", _anchor="closures"))
    return render_template("hub/closure_new.html", form=form)


def _closure_period(form: ClosureForm) -> tuple[datetime, datetime]:
    day: date = form.day.data
    if form.start_time.data and form.end_time.data:
        return (local_datetime(day, form.start_time.data), local_datetime(day, form.end_time.data))
    days = form.days.data or 1
    return local_datetime(day, time.min), local_datetime(day + timedelta(days=days), time.min)


@bp.route("/capacity/closures/<int:closure_id>/toggle", methods=["POST"])
@scheduler_only
def closure_toggle(closure_id: int):
    hub = current_hub()
    closure = db.session.get(Closure, closure_id)
    if closure is None or closure.hospital_id not in (None, hub.id):
        abort(404)
    back = url_for("hub.capacity", _anchor="closures")
    if attempt(ops.set_closure_active, closure, not closure.is_active) is not None:
        flash(
            _("Closure switched on.") if closure.is_active else _("Closure switched off."),
            "success",
        )
        if not closure.is_active and closure.end_at > utcnow():
            # A lifted closure frees its stretch (on its device, or every device of the
            # hub): offer it to the waiting list.
            start = max(closure.start_at, utcnow())
            devices = freed_devices(closure, hub.id)
            return offer_first_or((devices, start, closure.end_at), back)
    return redirect(back)
