"""Login, logout, one's own password (``app.auth.routes``); login throttling."""

from app.auth.routes import bp

__all__ = ["bp"]
