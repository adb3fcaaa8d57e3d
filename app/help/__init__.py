"""The user guide: one short page per role, in Thai and English.

Prose lives in one template per locale (``help/th/<role>.html``, ``help/en/<role>.html``)
rather than in the message catalogue: a guide is read and revised as a whole
document, and sentence-sized msgids would make it hard to translate well. Page
chrome (titles, the menu entry) still goes through Babel.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, render_template
from flask_login import current_user, login_required

from app.webkit.views import locale
from scheduling.i18n import N_
from scheduling.models import Role

bp = Blueprint("help", __name__, url_prefix="/help")

GUIDES = {
    Role.REQUESTER: ("requester", N_("Guide for community-hospital staff")),
    Role.SCHEDULER: ("scheduler", N_("Guide for hub schedulers")),
    Role.RADIOLOGIST: ("radiologist", N_("Guide for radiologists")),
    Role.ADMIN: ("admin", N_("Guide for administrators")),
    Role.REGION_OFFICE: ("region", N_("Guide for health region offices")),
}
_BY_SLUG = {slug: (role, title) for role, (slug, title) in GUIDES.items()}


@bp.route("/")
@login_required
def index():
    own = GUIDES[current_user.role][0]
    guides = sorted(GUIDES.values(), key=lambda item: item[0] != own)
    return render_template("help/index.html", guides=guides, own=own)


@bp.route("/<slug>")
@login_required
def guide(slug: str):
    if slug not in _BY_SLUG:
        abort(404)
    lang = "en" if locale() == "en" else "th"
    return render_template(
        f"help/{lang}/{slug}.html", slug=slug, title=_BY_SLUG[slug][1], guides=GUIDES.values()
    )


def init_app(app: Flask) -> None:
    from app.navigation import add_nav_item

    app.register_blueprint(bp)
    add_nav_item(app, "help.index", N_("Help"), set(Role), order=99)
