"""Admin changes to the network: hospitals, devices, procedures, users.

The same shape as the ``scheduling`` operations (actor and ``now`` first, one audit
event, one commit) so the admin pages stay thin. These rows are reference data,
not bookings, which is why they live with the admin adapter rather than in
``scheduling``. An error that belongs to one form field is a ``FieldError`` naming
the field, so the page can show it beside that field.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app import sessions
from app.extensions import db

# The password rules live with the login; admins set passwords by the same rules.
from app.passwords import PASSWORD_MIN_LENGTH, password_problems  # noqa: F401
from app.webkit.views import FieldError
from scheduling import addresses, regions
from scheduling.audit import Actor, record
from scheduling.errors import NotAllowed
from scheduling.i18n import N_
from scheduling.models import Device, Hospital, Procedure, Role, User

# Fields never copied into the audit trail.
_SECRET = {"password_hash"}

HOSPITAL_FIELDS = (
    "code", "name_th", "name_en", "level", "province_code", "district_th", "district_en",
    "latitude", "longitude", "is_hub", "referral_scope", "patient_id_policy", "address_th",
    "map_url", "phone",
)  # fmt: skip
DEVICE_FIELDS = (
    "hospital_id", "modality_code", "name", "ae_title", "station_name", "room_th", "room_en",
    "charset", "mwl_filter_by_calling_ae", "is_active", "allowed_addresses",
)  # fmt: skip
PROCEDURE_FIELDS = (
    "code", "name_th", "name_en", "modality_code", "duration_minutes", "prep_th", "prep_en",
    "uses_contrast", "prep_tags", "is_active",
)  # fmt: skip
USER_FIELDS = (
    "username", "full_name", "role", "hospital_id", "region", "locale", "is_active_account",
)  # fmt: skip

# DICOM PS3.5 AE: up to 16 characters of the default repertoire, no backslash or
# control characters, and not only spaces. Upper case by convention of every scanner.
_AE_TITLE = re.compile(r"^[A-Z0-9_\-. ]{1,16}$")
_MOPH_CODE = re.compile(r"^\d{5}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,79}$")


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    return value


def _apply(row: Any, fields: tuple[str, ...], values: dict[str, Any]) -> dict[str, list]:
    """Set the given fields; return {field: [old, new]} for the ones that changed."""
    changes: dict[str, list] = {}
    for name in fields:
        if name not in values:
            continue
        new = values[name]
        if isinstance(new, str):
            new = new.strip()
        old = getattr(row, name, None)
        if old != new:
            if name not in _SECRET:
                changes[name] = [_plain(old), _plain(new)]
            setattr(row, name, new)
    return changes


def _taken(model, column, value, own_id: int | None) -> bool:
    query = select(func.count()).select_from(model).where(column == value)
    if own_id is not None:
        query = query.where(model.id != own_id)
    return bool(db.session.scalar(query))


def _finish(actor: Actor, now: datetime, action: str, row: Any, changes: dict, **extra) -> None:
    db.session.flush()
    record(actor, action, now, entity=row, changes=changes, **extra)
    db.session.commit()


def _require_admin(actor: Actor) -> None:
    if actor.user is None or actor.user.role is not Role.ADMIN:
        raise NotAllowed(N_("Only an administrator may change this"), code="admin-only")


def save_hospital(
    actor: Actor, now: datetime, hospital: Hospital | None, **values: Any
) -> Hospital:
    _require_admin(actor)
    code = (values.get("code") or "").strip()
    if not _MOPH_CODE.match(code):
        raise FieldError("code", N_("The MOPH code has 5 digits"))
    if _taken(Hospital, Hospital.code, code, hospital.id if hospital else None):
        raise FieldError("code", N_("Another hospital already has this code"), code="duplicate")
    if values.get("province_code") not in regions.PROVINCES:
        raise FieldError("province_code", N_("Choose the province"))
    if not regions.valid_coordinates(values.get("latitude"), values.get("longitude")):
        raise FieldError("longitude", N_("Give both latitude and longitude, or neither"))
    created = hospital is None
    if hospital is None:
        hospital = Hospital()
        db.session.add(hospital)
    changes = _apply(hospital, HOSPITAL_FIELDS, values)
    regions.set_province(hospital, hospital.province_code)
    _finish(
        actor,
        now,
        "admin.hospital.create" if created else "admin.hospital.update",
        hospital,
        changes,
    )
    return hospital


def save_device(actor: Actor, now: datetime, device: Device | None, **values: Any) -> Device:
    _require_admin(actor)
    ae_title = (values.get("ae_title") or "").strip().upper()
    values["ae_title"] = ae_title
    if not _AE_TITLE.match(ae_title):
        raise FieldError(
            "ae_title",
            N_("An AE title has 1 to 16 capital letters, digits, spaces or _ - ."),
        )
    if _taken(Device, Device.ae_title, ae_title, device.id if device else None):
        raise FieldError(
            "ae_title", N_("Another device already uses this AE title"), code="duplicate"
        )
    station = (values.get("station_name") or "").strip().upper() or None
    values["station_name"] = station
    if station is not None and not _AE_TITLE.match(station):
        raise FieldError("station_name", N_("A station name has at most 16 characters"))
    hospital = db.session.get(Hospital, values.get("hospital_id"))
    if hospital is None or not hospital.is_hub:
        raise FieldError("hospital_id", N_("Devices belong to a hub hospital"))
    if "allowed_addresses" in values:
        try:
            values["allowed_addresses"] = addresses.normalise(values["allowed_addresses"])
        except addresses.BadAddressList as exc:
            raise FieldError("allowed_addresses", exc.msgid, code=exc.code, **exc.params) from None
    created = device is None
    if device is None:
        device = Device()
        db.session.add(device)
    changes = _apply(device, DEVICE_FIELDS, values)
    _finish(
        actor,
        now,
        "admin.device.create" if created else "admin.device.update",
        device,
        changes,
        hospital_id=hospital.id,
    )
    return device


def save_procedure(
    actor: Actor, now: datetime, procedure: Procedure | None, **values: Any
) -> Procedure:
    _require_admin(actor)
    code = (values.get("code") or "").strip().upper()
    values["code"] = code
    if not code:
        raise FieldError("code", N_("Enter a code"))
    if _taken(Procedure, Procedure.code, code, procedure.id if procedure else None):
        raise FieldError("code", N_("Another procedure already has this code"), code="duplicate")
    minutes = values.get("duration_minutes") or 0
    if not 5 <= minutes <= 480:
        raise FieldError("duration_minutes", N_("The duration is between 5 and 480 minutes"))
    tags = values.get("prep_tags") or ""
    values["prep_tags"] = ",".join(t.strip().lower() for t in tags.split(",") if t.strip())
    created = procedure is None
    if procedure is None:
        procedure = Procedure()
        db.session.add(procedure)
    changes = _apply(procedure, PROCEDURE_FIELDS, values)
    _finish(
        actor,
        now,
        "admin.procedure.create" if created else "admin.procedure.update",
        procedure,
        changes,
    )
    return procedure


def save_user(
    actor: Actor,
    now: datetime,
    user: User | None,
    *,
    password: str | None = None,
    **values: Any,
) -> User:
    """Create or change an account. A new account needs a password; an edit may set one."""
    _require_admin(actor)
    username = (values.get("username") or "").strip().lower()
    values["username"] = username
    if not _USERNAME.match(username):
        raise FieldError(
            "username",
            N_("A username has 3 to 80 lower-case letters, digits, dots, dashes or underscores"),
        )
    if _taken(User, User.username, username, user.id if user else None):
        raise FieldError("username", N_("This username is already taken"), code="duplicate")
    if db.session.get(Hospital, values.get("hospital_id")) is None:
        raise FieldError("hospital_id", N_("Choose a hospital"))
    if user is not None and user.id == actor.user.id:
        # An admin locking themself out leaves nobody to undo it.
        if values.get("role", user.role) is not Role.ADMIN or not values.get(
            "is_active_account", True
        ):
            raise FieldError("role", N_("You cannot remove your own administrator access"))
    if values.get("role") is Role.REGION_OFFICE and values.get("region") not in regions.REGIONS:
        raise FieldError("region", N_("A region office account needs its health region"))
    if "role" in values and values.get("role") is not Role.REGION_OFFICE:
        values["region"] = None  # the region is what a region office sees; nobody else
    if user is None and not password:
        raise FieldError("password", N_("Set a password for the new account"))
    if password:
        problems = password_problems(password, username, values.get("full_name") or "")
        if problems:
            raise FieldError("password", problems[0])
    created = user is None
    if user is None:
        user = User(created_at=now)
        db.session.add(user)
    changes = _apply(user, USER_FIELDS, values)
    if password:
        user.set_password(password)
        changes["password"] = ["***", "***"]  # that it changed, never what to
    if not created and (password or not user.is_active_account):
        # A reset password or a disabled account: every session of it ends now, and
        # a login lock on the name is lifted (the admin just gave it a new password).
        user.end_sessions()
        sessions.end_all(user.id, now, "password-reset" if password else "disabled")
        if password:
            from app.auth.throttle import unlock

            unlock(user.username)
    _finish(
        actor,
        now,
        "admin.user.create" if created else "admin.user.update",
        user,
        changes,
        hospital_id=user.hospital_id,
    )
    return user
