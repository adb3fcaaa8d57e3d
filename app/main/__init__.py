"""Home, the request list, request detail, the language switch (``app.main.routes``)."""

from app.main.routes import bp

__all__ = ["bp"]
