"""What every view of the web adapter needs, written once.

- ``role_required(*roles)``: the one role guard (admins always pass);
- ``web_actor()``: the ``Actor`` a web request acts as;
- ``locale()``: the reader's language, ``th`` or ``en``;
- ``safe_next()`` / ``next_link()``: where to go back to, same-site paths only;
- ``attempt()`` / ``show_refusal()``: call a ``scheduling`` operation and, when it
  refuses, show its Thai (or English) message beside the form field it concerns, on
  the form, or as a flash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, flash, g, request
from flask_login import current_user, login_required

from app.extensions import db
from scheduling.audit import Actor
from scheduling.clock import utcnow
from scheduling.errors import DomainError, ValidationFailed
from scheduling.models import Interface, Role, User

T = TypeVar("T")

# Where ``show_refusal`` puts a refusal that names no field of the form.
FLASH = "flash"  # a flashed message above the page
FORM = "form"  # the form's own errors (``form.form_errors``)


def role_required(*roles: Role) -> Callable:
    """Only these roles (admins always) may open the view; others get 403, and a
    visitor who is not logged in goes to the login page."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any):
            if current_user.role is not Role.ADMIN and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def web_actor(user: User | None = None, *, name: str | None = None) -> Actor:
    """Who this request acts as: ``user``, else the logged-in user (None before login,
    when ``name`` says whom a failed login tried)."""
    if user is None and current_user.is_authenticated:
        user = current_user._get_current_object()
    return Actor(interface=Interface.WEB, user=user, name=name, remote_addr=request.remote_addr)


def locale() -> str:
    """The reader's language (``g.locale``, chosen per request by the app factory)."""
    return getattr(g, "locale", "th")


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default``.

    Only same-site relative paths: an open redirect (``//evil.example``, ``https://…``,
    ``/\\evil.example``, which browsers read as ``//``) is a phishing aid.
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def next_link(default: str) -> str:
    """The ``next`` field of the posted form or of the query string, if it is safe."""
    return safe_next(request.form.get("next") or request.args.get("next"), default)


class FieldError(ValidationFailed):
    """A refusal that belongs to one form field, named by the field's attribute name."""

    def __init__(self, field: str, message: str, *, code: str = "invalid", **params: object):
        super().__init__(message, code=code, **params)
        self.field = field


def show_refusal(
    error: DomainError,
    form: Any = None,
    fields: Mapping[str, str] | None = None,
    *,
    fallback: str = FLASH,
) -> None:
    """Show an operation's refusal in the reader's language where it belongs.

    Beside the form field it concerns (a ``FieldError``'s field, or ``fields[error.code]``);
    otherwise by ``fallback``: ``FLASH``, ``FORM`` (the form's own errors), or the name
    of a field that takes every other refusal.
    """
    message = error.message(locale())
    name = error.field if isinstance(error, FieldError) else (fields or {}).get(error.code)
    if name is None and fallback not in (FLASH, FORM):
        name = fallback
    field = getattr(form, name, None) if form is not None and name else None
    if field is not None:
        field.errors = [*field.errors, message]  # a tuple until the form is validated
    elif fallback == FORM and form is not None:
        form.form_errors.append(message)
    else:
        flash(message, "error")


def attempt(
    operation: Callable[..., T],
    *args: Any,
    form: Any = None,
    fields: Mapping[str, str] | None = None,
    fallback: str = FLASH,
    **kwargs: Any,
) -> T | None:
    """``operation(web_actor(), now, *args, **kwargs)``; None when it refuses, after the
    session is rolled back and the refusal shown (``show_refusal``)."""
    try:
        return operation(web_actor(), utcnow(), *args, **kwargs)
    except DomainError as error:
        db.session.rollback()
        show_refusal(error, form, fields, fallback=fallback)
        return None
