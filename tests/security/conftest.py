"""Attacks tried as a partner user (or a careless HQ user) would: each test here failed on
the code before its fix. The stack fixtures are the shared ones (``tests/support/fixtures.py``).
"""

from tests.support.fixtures import ADMIN_PASSWORD, PASSWORD, World

__all__ = ["ADMIN_PASSWORD", "PASSWORD", "World"]
