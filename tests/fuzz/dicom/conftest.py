"""The DICOM fuzz runs against the worklist tests' hub and SCP (its own ``network``)."""

from tests.worklist.conftest import network, scp  # noqa: F401
