"""FHIR API clients: the systems allowed to call ``/fhir``, each scoped to one hospital."""

from __future__ import annotations

import hashlib

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models import Hospital


class ApiClient(Base):
    """A system (HIS, PACS) that calls the FHIR API with a bearer token, scoped to a hospital."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), index=True)
    # Only a SHA-256 of the token is kept: a database dump must not hand out API access.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    hospital: Mapped[Hospital] = relationship()

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
