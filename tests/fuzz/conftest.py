"""The fuzz tests use the fixtures of the interfaces they fuzz (DICOM: in its module)."""

from tests.integrations.hl7.conftest import listener, network  # noqa: F401
