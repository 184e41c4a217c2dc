"""Views for the request-tracing tests, and the signals they send.

The signals below are sent by these views only, so the receivers connected
to them here change nothing for other tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from django.dispatch import Signal, receiver
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from tests.app.models import Author

#: Sent with a ``marker`` kwarg that identifies the request that sent it.
marker_sent = Signal()
#: Sent by the nested view; its receiver sends ``inner_sent``.
outer_sent = Signal()
inner_sent = Signal()
#: Never has a receiver: its sends are only counted.
unheard = Signal()


@receiver(marker_sent)
def on_marker(sender: object, marker: str, **kwargs: object) -> str:
    return marker


@receiver(outer_sent)
def on_outer(sender: object, **kwargs: object) -> None:
    inner_sent.send(sender=None, level="inner")


@receiver(inner_sent)
def on_inner(sender: object, **kwargs: object) -> None:
    pass


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello")


def create_author(request: HttpRequest) -> HttpResponse:
    author = Author.objects.create(name=request.GET.get("name", "Ada"))
    return HttpResponse(str(author.pk))


def marker(request: HttpRequest, marker: str) -> HttpResponse:
    marker_sent.send(sender=None, marker=marker)
    return HttpResponse(marker)


def large(request: HttpRequest, number: str) -> HttpResponse:
    """Sends ``?sends=N`` markers, each with a long text: a large trace."""
    for send in range(int(request.GET.get("sends", "1"))):
        marker_sent.send(sender=None, marker=f"{number}-{send}:" + "x" * 250)
    return HttpResponse(number)


async def async_marker(request: HttpRequest, marker: str) -> HttpResponse:
    # Yield to the loop between sends so that concurrent requests interleave.
    for _ in range(3):
        marker_sent.send(sender=None, marker=marker)
        await asyncio.sleep(0)
    return HttpResponse(marker)


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[bytes]:
        for number in range(3):
            marker_sent.send(sender=None, marker=f"chunk-{number}")
            yield b"chunk"

    return StreamingHttpResponse(chunks())


def fail(request: HttpRequest) -> HttpResponse:
    raise ValueError("the view failed")


def nested(request: HttpRequest) -> HttpResponse:
    outer_sent.send(sender=None, level="outer")
    return HttpResponse("nested")
