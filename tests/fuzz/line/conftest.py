"""The LINE fuzz uses the LINE tests' fixtures."""

from tests.integrations.line.conftest import secret  # noqa: F401
