"""A JSON API with no HTML (scenario 12): where the signaltrace viewer helps."""

from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    """No receivers of its own: the API reuses the shop's services and signals."""

    name = "api"
    verbose_name = "JSON API"
