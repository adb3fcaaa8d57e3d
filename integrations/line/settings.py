"""LINE settings: environment defaults, read through ``app.config`` so tests can override.

| setting | default | meaning |
|---|---|---|
| ``LINE_CHANNEL_SECRET`` | empty | checks webhook signatures; empty: webhook refuses all |
| ``LINE_CHANNEL_ACCESS_TOKEN`` | empty | pushes; empty: messages stay in the outbox |
| ``LINE_API_BASE_URL`` | ``https://api.line.me`` | the stand-in's URL in tests and demos |
| ``LINE_OA_BASIC_ID`` | ``@radbook-demo`` | the Official Account the slip's QR code opens |
| ``LINE_REMINDERS`` | ``-1@18:00,0@07:00`` | days relative to the exam @ local time |
| ``LINE_QUIET_HOURS`` | ``21:00-07:00`` | no confirmations or notices then (empty: none) |
| ``LINE_SEND_BATCH`` | ``200`` | rows per batch of the send job |
| ``LINE_SEND_WORKERS`` | ``8`` | concurrent pushes |
| ``LINE_SEND_INTERVAL`` | ``30`` | seconds between runs of the send job |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time

from flask import Flask, current_app, has_app_context

DEFAULT_API_BASE_URL = "https://api.line.me"

DEFAULTS: dict[str, str] = {
    "LINE_OA_BASIC_ID": "@radbook-demo",
    "LINE_REMINDERS": "-1@18:00,0@07:00",
    "LINE_QUIET_HOURS": "21:00-07:00",
    "LINE_SEND_BATCH": "200",
    "LINE_SEND_WORKERS": "8",
    "LINE_SEND_INTERVAL": "30",
}


def init_settings(app: Flask) -> None:
    for name, default in DEFAULTS.items():
        app.config.setdefault(name, os.environ.get(name, default))
    for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "LINE_API_BASE_URL"):
        app.config.setdefault(name, os.environ.get(name, ""))


def setting(name: str) -> str:
    if has_app_context() and name in current_app.config:
        return str(current_app.config[name] or "")
    return os.environ.get(name, DEFAULTS.get(name, ""))


def api_base_url() -> str:
    return (setting("LINE_API_BASE_URL") or DEFAULT_API_BASE_URL).rstrip("/")


def push_configured() -> bool:
    return bool(setting("LINE_CHANNEL_ACCESS_TOKEN"))


def _clock(text: str) -> time:
    hours, minutes = text.strip().split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class ReminderRule:
    """Send a reminder ``days`` days from the exam day (-1: the day before) at ``at``."""

    days: int
    at: time

    @property
    def key(self) -> str:
        return f"{self.days}@{self.at:%H:%M}"


def reminder_rules(value: str | None = None) -> list[ReminderRule]:
    text = setting("LINE_REMINDERS") if value is None else value
    rules = []
    for part in text.split(","):
        if not part.strip():
            continue
        days, at = part.strip().split("@")
        rules.append(ReminderRule(int(days), _clock(at)))
    return rules


def quiet_hours(value: str | None = None) -> tuple[time, time] | None:
    """``(start, end)`` local times; the period may run past midnight."""
    text = setting("LINE_QUIET_HOURS") if value is None else value
    if not text.strip():
        return None
    start, end = text.split("-")
    return _clock(start), _clock(end)


def int_setting(name: str) -> int:
    return int(setting(name) or DEFAULTS[name])


def int_setting_from(app: Flask, name: str) -> int:
    return int(app.config.get(name) or DEFAULTS[name])
