"""PDPA: the read audit of web pages, the data-subject export, the retention job.

Health data is sensitive personal data under Thailand's PDPA (section 26); see
``docs/pdpa.md`` for what is kept, why, for how long, and what to do on a breach.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.jobs import add_job
    from app.pdpa import reads, retention, routes

    reads.init_app(app)
    app.register_blueprint(routes.bp)
    # Daily, at night in Bangkok: deletes in batches, so it never holds locks for long.
    add_job(app, "pdpa_retention", retention.purge_job, trigger="cron", hour=2, minute=30)
