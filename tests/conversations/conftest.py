"""The whole stack, started as tests/e2e starts it (same fixtures)."""

from tests.e2e.conftest import stack  # noqa: F401  (a pytest fixture, used by name)
