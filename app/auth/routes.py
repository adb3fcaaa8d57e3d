"""Login, logout and changing one's own password.

Every attempt is audited; a failure never says which part was wrong, and a locked
name gets the same answer whether or not it exists (``app.auth.throttle``).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash

from app import sessions
from app.auth import throttle
from app.auth.forms import ChangePasswordForm, LoginForm
from app.extensions import db, login_manager
from app.passwords import password_problems
from app.security import fresh_session, session_expired_message, start_session_clock
from app.webkit.views import safe_next, web_actor
from scheduling.audit import record
from scheduling.clock import utcnow
from scheduling.i18n import N_
from scheduling.models import User

bp = Blueprint("auth", __name__)


# Checked against when the name is unknown, so that a wrong name takes as long to
# refuse as a wrong password (no timing hint that an account exists). A literal (the
# hash of "radbook-no-such-user" with werkzeug's default method, the one users' hashes
# have): making it at import cost every process start an scrypt run.
# tests/app/test_login_throttle.py checks the method still matches.
DUMMY_HASH = (
    "scrypt:32768:8:1$dm1lPU58YP6iTv2Z$cc49f3ded273315fb6535a220e51b48fe09507b1b5c338405f8"
    "62b01bc4823a25f46c643fc662d1e3ae8abea256fb19124e316f3a58cf408b9fe0667c6bfa54c"
)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # "<id>:<session token>"; a changed token (new password, account disabled) or a
    # disabled account ends the session on its next request, and so does a server-side
    # session that was ended (logout) or never existed (``app.sessions``).
    raw_id, _sep, token = user_id.partition(":")
    if not raw_id.isdigit() or len(raw_id) > 18:
        return None
    user = sessions.load_user(int(raw_id), token)
    if user is None or not user.is_active or (user.session_token or "") != token:
        return None
    return user


def _locked_message(lock: throttle.Lock, now) -> str:
    seconds = max(1, int((lock.until - now).total_seconds() + 0.999))
    if seconds < 120:
        return _(
            "Too many failed logins. Wait %(seconds)s seconds before trying this name again "
            "from this computer, or ask your administrator to set a new password.",
            seconds=seconds,
        )
    return _(
        "Too many failed logins. Logging in with this name or from this computer is paused "
        "for %(minutes)s minutes. Try again later, or ask your administrator to set a new "
        "password.",
        minutes=lock.minutes_left(now),
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if request.method == "GET" and (message := session_expired_message()):
        flash(message, "warning")
    if form.validate_on_submit():
        now = utcnow()
        username = form.username.data.strip()
        failed_actor = web_actor(name=username[:60])
        device = throttle.device_for(username)
        lock = throttle.current_lock(username, request.remote_addr, now, device)
        if lock is not None:
            # The password is not checked at all while a delay runs.
            record(failed_actor, "auth.login_failed", now, reason="locked")
            db.session.commit()
            flash(_locked_message(lock, now), "error")
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            check_password_hash(DUMMY_HASH, form.password.data)
        if user is None or not user.is_active or not user.check_password(form.password.data):
            hospital_id = user.hospital_id if user else None
            record(failed_actor, "auth.login_failed", now, hospital_id=hospital_id)
            lock = throttle.record_failure(failed_actor, username, now, hospital_id, device)
            db.session.commit()
            if lock is not None:
                flash(_locked_message(lock, now), "error")
                return render_template("auth/login.html", form=form), 429
            flash(_("The username or password is incorrect."), "error")
            return render_template("auth/login.html", form=form), 401
        throttle.record_success(username, request.remote_addr, device)
        fresh_session()  # no fixation
        login_user(user)
        sessions.start(user, now, request.remote_addr)
        start_session_clock()
        record(web_actor(user), "auth.login", now, entity=user)
        db.session.commit()
        response = redirect(safe_next(request.args.get("next"), url_for("main.index")))
        throttle.remember_device(response, user.username)
        return response
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    now = utcnow()
    record(web_actor(), "auth.logout", now, entity=current_user._get_current_object())
    sessions.end_current(now, "logout")  # a copy of this cookie stops working too
    db.session.commit()
    logout_user()
    fresh_session()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """The logged-in user changes their own password: the current one is required, the
    new one follows the same rules as an admin-set one, other sessions end."""
    user: User = current_user._get_current_object()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        now = utcnow()
        actor = web_actor(user)
        device = throttle.device_for(user.username)
        lock = throttle.current_lock(user.username, request.remote_addr, now, device)
        if lock is not None:
            form.current_password.errors.append(_locked_message(lock, now))
        elif not user.check_password(form.current_password.data):
            # A stolen session must not become a way to guess the password.
            record(actor, "auth.password_change_failed", now, entity=user)
            lock = throttle.record_failure(actor, user.username, now, user.hospital_id, device)
            db.session.commit()
            form.current_password.errors.append(
                _locked_message(lock, now) if lock else _("The current password is incorrect.")
            )
        else:
            problems = password_problems(form.new_password.data, user.username, user.full_name)
            if form.new_password.data == form.current_password.data:
                problems.append(N_("The new password must differ from the current one"))
            if problems:
                form.new_password.errors.extend(_(p) for p in problems)
            else:
                user.set_password(form.new_password.data)
                user.end_sessions()  # every other computer logged in as this user
                sessions.end_all(user.id, now, "password-changed", keep_current=True)
                record(actor, "auth.password_change", now, entity=user)
                db.session.commit()
                login_user(user)  # this session carries the new token
                flash(
                    _("Your password has been changed. Other sessions have been logged out."),
                    "success",
                )
                return redirect(url_for("main.index"))
    return render_template("auth/change_password.html", form=form)
