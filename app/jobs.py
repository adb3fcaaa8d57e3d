"""The one jobs process: ``flask --app wsgi jobs run`` (APScheduler 3).

Adapters register their periodic jobs in ``init_app`` with ``add_job``; the jobs
process schedules all of them with fixed IDs and ``replace_existing`` so a restart
never duplicates a job. Jobs keep their own state in the database (outboxes), so
the scheduler itself needs no persistent job store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

log = logging.getLogger(__name__)

jobs_cli = AppGroup("jobs", help="Background jobs: reminders, outboxes, PACS checks.")


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    func: Callable[[Flask], Any]  # called with the app; pushes its own app context
    trigger: str = "interval"
    trigger_args: dict[str, Any] = field(default_factory=dict)


def add_job(
    app: Flask,
    job_id: str,
    func: Callable[[Flask], Any],
    trigger: str = "interval",
    **trigger_args: Any,
) -> None:
    app.extensions.setdefault("radbook_jobs", {})[job_id] = JobSpec(
        job_id, func, trigger, trigger_args
    )


def registered_jobs(app: Flask) -> dict[str, JobSpec]:
    return dict(app.extensions.get("radbook_jobs", {}))


def _run_in_context(app: Flask, spec: JobSpec) -> None:
    with app.app_context():
        try:
            spec.func(app)
        except Exception:  # one failing job must not stop the others
            log.exception("job %s failed", spec.job_id)


def build_scheduler(app: Flask, scheduler_class=None):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = (scheduler_class or BackgroundScheduler)(timezone=app.config["RADBOOK_TIMEZONE"])
    for spec in registered_jobs(app).values():
        scheduler.add_job(
            _run_in_context,
            spec.trigger,
            args=[app, spec],
            id=spec.job_id,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            **spec.trigger_args,
        )
    return scheduler


def start_jobs_service(app: Flask) -> Callable[[], None]:
    """``flask serve`` runs the jobs in a background scheduler."""
    scheduler = build_scheduler(app)
    scheduler.start()
    return lambda: scheduler.shutdown(wait=False)


@jobs_cli.command("run")
def jobs_run() -> None:
    """Run every registered job until interrupted (exactly one such process per site)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    app = current_app._get_current_object()
    scheduler = build_scheduler(app, BlockingScheduler)
    click.echo("jobs: " + ", ".join(sorted(registered_jobs(app))) or "jobs: none registered")
    scheduler.start()


def init_app(app: Flask) -> None:
    from app.services import add_service

    app.cli.add_command(jobs_cli)
    add_service(app, "jobs", start_jobs_service)
