"""The e2e tier's fixtures are the shared stack fixtures (``tests/support/fixtures.py``)."""

from tests.support.fixtures import ADMIN_PASSWORD, PASSWORD, World

__all__ = ["ADMIN_PASSWORD", "PASSWORD", "World"]
