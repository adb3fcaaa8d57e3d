"""The role-based menu. Blueprints add their entries in ``init_app`` via ``add_nav_item``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, url_for
from flask_babel import gettext

from scheduling.models import Role, User


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str  # msgid
    roles: frozenset[Role]
    order: int = 100


def add_nav_item(app: Flask, endpoint: str, label: str, roles: set[Role], order: int = 100) -> None:
    app.extensions.setdefault("radbook_nav", []).append(
        NavItem(endpoint, label, frozenset(roles), order)
    )


def nav_items(user: User) -> list[dict[str, str]]:
    items = sorted(current_app.extensions.get("radbook_nav", []), key=lambda i: i.order)
    return [
        {"url": url_for(item.endpoint), "label": gettext(item.label), "endpoint": item.endpoint}
        for item in items
        if user.role in item.roles or user.role is Role.ADMIN
    ]


def register(app: Flask) -> None:
    app.jinja_env.globals["nav_items"] = nav_items
