"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from signaltrace import install

# The suite checks after each capture that Signal's methods are Django's own
# again: the wrappers come off however often they went on (on Python 3.13 the
# limit is tested on its own, in test_install.py).
install.REMOVALS = None


@pytest.fixture
def without_connection_closing() -> Iterator[None]:
    """As Django's test client does: the test database must stay open.

    For tests that send request_started and request_finished themselves.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
