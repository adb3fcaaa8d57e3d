"""Small web helpers shared by the hub, admin, dashboard and help blueprints.

Role guards, the acting ``Actor`` for a web request, turning a ``DomainError``
into a flashed Thai message, and picking the hub a page is about.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, flash, g, request, session
from flask_login import current_user, login_required
from sqlalchemy import select

from app.args import int_arg
from app.extensions import db
from scheduling.audit import Actor
from scheduling.errors import DomainError
from scheduling.models import Hospital, Interface, Role


def role_required(*roles: Role) -> Callable:
    """Only these roles (admins always) may open the view; others get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any):
            if current_user.role is not Role.ADMIN and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def actor() -> Actor:
    return Actor(
        interface=Interface.WEB,
        user=current_user._get_current_object(),
        remote_addr=request.remote_addr,
    )


def locale() -> str:
    return getattr(g, "locale", "th")


def flash_error(error: DomainError) -> None:
    flash(error.message(locale()), "error")


def hubs() -> list[Hospital]:
    return list(
        db.session.scalars(
            select(Hospital).where(Hospital.is_hub.is_(True)).order_by(Hospital.code)
        )
    )


def current_hub() -> Hospital:
    """The hub this page is about.

    Schedulers and radiologists work at their own hospital only. An admin picks a hub
    with ``?hub=<id>`` (remembered in the session), the first hub otherwise.
    """
    if current_user.role is not Role.ADMIN:
        hospital = current_user.hospital
        if not hospital.is_hub:
            abort(403)
        return hospital
    wanted = int_arg("hub") or session.get("admin_hub_id")
    hospital = db.session.get(Hospital, wanted) if wanted else None
    if hospital is None or not hospital.is_hub:
        hospital = db.session.scalar(
            select(Hospital).where(Hospital.is_hub.is_(True)).order_by(Hospital.id).limit(1)
        )
        if hospital is None:
            abort(404)
    session["admin_hub_id"] = hospital.id
    return hospital
