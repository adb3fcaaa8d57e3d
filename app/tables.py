"""Every table of every package, imported so Alembic and ``create_all`` see them all.

The core and each adapter own their tables; this module only gathers them for the
composition root. Nothing imports models from here.
"""

import app.auth.models
import app.sessions
import integrations.fhir.models
import integrations.hl7.models
import integrations.line.models
import scheduling.models
import worklist.models
from scheduling.db import Base

metadata = Base.metadata

__all__ = ["app", "integrations", "metadata", "scheduling", "worklist"]
