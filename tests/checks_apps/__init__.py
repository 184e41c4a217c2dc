"""Minimal apps for the system checks' tests (tests/test_checks.py).

Each shows one situation: receivers never imported (``forgotten``), receivers
imported from ``ready()`` (``wired``), a ``handlers.py`` that holds no receiver
(``plain``), a receivers module loaded under two names (``duplicated``).
Nothing here is installed by the test settings.
"""
