"""Login and logout. Every attempt is audited; a failure never says which part was wrong."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from app.auth import bp
from app.auth.forms import LoginForm
from app.extensions import db, login_manager
from app.models import Interface, User
from app.timeutil import utcnow
from scheduling.audit import Actor, record


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def web_actor(user: User | None = None) -> Actor:
    return Actor(
        interface=Interface.WEB,
        user=user if user is not None else (current_user if current_user.is_authenticated else None),
        remote_addr=request.remote_addr,
    )


def _safe_next(target: str | None) -> str | None:
    # Only same-site relative paths: an open redirect after login is a phishing aid.
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        now = utcnow()
        user = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
        if user is None or not user.is_active or not user.check_password(form.password.data):
            record(
                Actor(interface=Interface.WEB, name=form.username.data[:60],
                      remote_addr=request.remote_addr),
                "auth.login_failed",
                now,
                hospital_id=user.hospital_id if user else None,
            )
            db.session.commit()
            flash(_("The username or password is incorrect."), "error")
            return render_template("auth/login.html", form=form), 401
        locale = session.get("locale")
        session.clear()  # a fresh session on login: no fixation
        if locale:
            session["locale"] = locale
        login_user(user)
        record(web_actor(user), "auth.login", now, entity=user)
        db.session.commit()
        return redirect(_safe_next(request.args.get("next")) or url_for("main.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    record(web_actor(), "auth.logout", utcnow(), entity=current_user._get_current_object())
    db.session.commit()
    logout_user()
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))
