"""The CLI fixture, for workflow tests that also drive the command line."""

from tests.cli.conftest import cli  # noqa: F401  (a fixture, registered by importing it)
