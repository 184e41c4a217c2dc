"""Views for the request-tracing tests, and the signals they send.

The signals below are sent by these views only, so the receivers connected
to them here change nothing for other tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from django.core.signals import request_finished
from django.dispatch import Signal, receiver
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)

from tests.app.models import Author

#: Sent with a ``marker`` kwarg that identifies the request that sent it.
marker_sent = Signal()
#: Sent by the nested view; its receiver sends ``inner_sent``.
outer_sent = Signal()
inner_sent = Signal()
#: Never has a receiver: its sends are only counted.
unheard = Signal()
#: Sent once the response is out, by a ``request_finished`` receiver (see ``later``).
flushed = Signal()
#: Each receiver call sends it again, one level deeper, down to ``depth``.
chain_sent = Signal()
#: Sent by the haystack view's markers' parent: its receiver sends the markers.
batch_sent = Signal()
#: Sent once, at the bottom of the haystack's chain: a receiver of its own to find.
needle_sent = Signal()

#: The dispatch_uid ``later`` connects ``flush_queue`` to request_finished with.
FLUSH_UID = "tests.app.views.flush_queue"


@receiver(marker_sent)
def on_marker(sender: object, marker: str, **kwargs: object) -> str:
    return marker


@receiver(outer_sent)
def on_outer(sender: object, **kwargs: object) -> None:
    inner_sent.send(sender=None, level="inner")


@receiver(inner_sent)
def on_inner(sender: object, **kwargs: object) -> None:
    pass


@receiver(flushed)
def on_flushed(sender: object, **kwargs: object) -> None:
    pass


def flush_queue(sender: object, **kwargs: object) -> None:
    """Connected to request_finished by ``later`` for one request: sends ``flushed``."""
    request_finished.disconnect(dispatch_uid=FLUSH_UID)
    flushed.send(sender=None, items=2)
    flushed.send(sender=None, items=0)


@receiver(chain_sent)
def go_deeper(
    sender: object, level: int, depth: int, needle: bool = False, **kwargs: object
) -> None:
    if level < depth:
        chain_sent.send(sender=None, level=level + 1, depth=depth, needle=needle)
    elif needle:
        needle_sent.send(sender=None)


@receiver(batch_sent)
def send_batch(sender: object, sends: int, **kwargs: object) -> None:
    for send in range(sends):
        marker_sent.send(sender=None, marker=f"item-{send}")


@receiver(needle_sent)
def on_needle(sender: object, **kwargs: object) -> None:
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


def later(request: HttpRequest) -> HttpResponse:
    """An HTML page that sends a marker, and two ``flushed`` once the response is out.

    The way a project flushes work queued during a request from a
    ``request_finished`` receiver.
    """
    marker_sent.send(sender=None, marker="now")
    request_finished.connect(flush_queue, dispatch_uid=FLUSH_UID)
    return HttpResponse("<!DOCTYPE html><html><body><p>later</p></body></html>")


def post_redirect(request: HttpRequest) -> HttpResponse:
    """A form's POST: sends a marker (``marker``) and a nested pair, then redirects.

    To ``next`` (``/hello/`` by default), as a view does once it has saved.
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    marker_sent.send(sender=None, marker=request.POST.get("marker", "posted"))
    outer_sent.send(sender=None, level="outer")
    return HttpResponseRedirect(request.POST.get("next", "/hello/"))


def chain(request: HttpRequest, depth: int) -> HttpResponse:
    """A chain of sends nested ``depth`` levels deep: the deepest is at ``depth``."""
    chain_sent.send(sender=None, level=0, depth=depth)
    return HttpResponse("<!DOCTYPE html><html><body><p>chain</p></body></html>")


def haystack(request: HttpRequest) -> HttpResponse:
    """A large trace with a needle at its end.

    ``batch_sent``, whose receiver sends ``?sends=N`` markers (nested one
    level deep), then a chain two levels deep whose bottom sends
    ``needle_sent``, received by ``on_needle`` only.
    """
    batch_sent.send(sender=None, sends=int(request.GET.get("sends", "1")))
    chain_sent.send(sender=None, level=0, depth=2, needle=True)
    return HttpResponse("<!DOCTYPE html><html><body><p>haystack</p></body></html>")
