"""A page of the project itself: a signal whose argument comes from the URL.

``/echo/?text=...`` sends :data:`text_echoed` with the text, and its receiver
returns it. Whatever the text holds, the toolbar panel and the signaltrace
viewer show it as text: try ``/echo/?text=<script>alert(1)</script>``. The
browser test (tests/test_browser.py) does, and checks that nothing runs.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal, receiver
from django.http import HttpRequest, HttpResponse
from django.template import engines

#: Sent by the echo page; ``text`` is the page's ``text`` query parameter.
text_echoed = Signal()

_PAGE = """{% extends "base.html" %}
{% block title %}Echo{% endblock %}
{% block content %}
<h1>Echo</h1>
<p>This page sent <code>text_echoed</code> with <code>text={{ text }}</code>.
Open the toolbar's Signal trace panel: the argument and the receiver's response
show as text, whatever they hold.</p>
{% endblock %}"""


@receiver(text_echoed)
def echo_text(sender: object, text: str, **kwargs: Any) -> str:
    """Return the text: the panel shows it as this receiver's response too."""
    return text


def echo(request: HttpRequest) -> HttpResponse:
    """Send :data:`text_echoed` with the ``text`` query parameter."""
    text = request.GET.get("text", "")
    text_echoed.send(sender=None, text=text)
    page = engines["django"].from_string(_PAGE)
    return HttpResponse(page.render({"text": text}, request))
