"""Images that travel with a referral: the requester lists them on the request page (or
picks them from its own PACS), the hub sees whether they arrived and confirms whose they
are. Thin views over ``scheduling.referrals``; the section is included by the request
page and the hub's exam page through the ``referral_images`` template global."""

from __future__ import annotations

from flask import Flask

from app.referrals import routes


def init_app(app: Flask) -> None:
    app.register_blueprint(routes.bp)
    app.jinja_env.globals["referral_images"] = routes.section
