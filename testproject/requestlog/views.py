"""The request log, and a view that fails on purpose."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import log


class DemoFailure(Exception):
    """What the failing view raises."""


def request_list(request: HttpRequest) -> HttpResponse:
    """The recent requests, as recorded by the middleware and the receivers."""
    return render(request, "requestlog/request_list.html", {"records": log.recent()})


def boom(request: HttpRequest) -> HttpResponse:
    """Fail, so that Django sends ``got_request_exception``."""
    raise DemoFailure("this view fails on purpose")
