"""FHIR API clients: the systems allowed to call ``/fhir``, each scoped to one hospital."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models import Hospital
from scheduling.models.types import UTCDateTime

# What a client may do unless told otherwise (SMART v2 system scopes): read and search
# every resource type, and create (orders, bookings, studies, reports).
DEFAULT_SCOPES = "system/*.rs system/*.c"


class ApiClient(Base):
    """A system (HIS, PACS) that calls the FHIR API with a bearer token, scoped to a hospital."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), index=True)
    # Only a SHA-256 of the token is kept: a database dump must not hand out API access.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # SMART v2 system scopes, space-separated (``integrations.fhir.clients``).
    scopes: Mapped[str] = mapped_column(Text, default=DEFAULT_SCOPES, server_default=DEFAULT_SCOPES)
    # The token's first characters, so an admin can tell which token a system holds.
    token_prefix: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    hospital: Mapped[Hospital] = relationship()

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
