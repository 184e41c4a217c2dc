"""SignalTraceMiddleware: a trace per request, request_started to request_finished."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections
from django.db.models.signals import post_save
from django.dispatch import Signal
from django.http import HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.urls import path

import signaltrace
from signaltrace import context, install, request_scope
from signaltrace.history import history
from signaltrace.trace import Trace
from tests.app import views
from tests.app.models import Author
from tests.app.views import inner_sent, marker_sent, outer_sent

MIDDLEWARE = "signaltrace.middleware.SignalTraceMiddleware"
# A bound on how long a test waits for its own threads or server: a hang guard.
WAIT = 30


@pytest.fixture(autouse=True)
def _stop_request_tracing() -> Iterator[None]:
    """Undo what the middleware's first instance did, so other tests see no wrappers."""
    yield
    request_scope.stop_request_tracing()
    history.clear()


@pytest.fixture
def traced(settings: Any) -> None:
    """DEBUG on and the middleware first in MIDDLEWARE."""
    settings.DEBUG = True
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]


class UrlsWithoutViewer:
    """A URLconf that does not include ``signaltrace.urls``."""

    urlpatterns = [path("hello/", views.hello)]


@pytest.fixture
def no_db_reconnect() -> Iterator[None]:
    """Keep close_old_connections off the request signals, as the test client does.

    For requests sent through a real handler or by hand: it would touch the
    test database.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


class AnswerEarly:
    """A middleware that answers without calling the rest of the chain."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> HttpResponse:
        return HttpResponse("early")


def _names(trace: Trace) -> list[str]:
    return [event.name.rpartition(".")[2] for event in trace.events]


def _markers(trace: Trace) -> set[str]:
    return {event.kwargs["marker"] for event in trace.filter(marker_sent)}


def _asgi_scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def _asgi_get(application: ASGIHandler, path: str) -> dict[str, Any]:
    """Make one request the way an ASGI server does; return the response start."""
    communicator = ApplicationCommunicator(application, _asgi_scope(path))
    await communicator.send_input({"type": "http.request", "body": b""})
    start: dict[str, Any] = await communicator.receive_output(WAIT)
    while (await communicator.receive_output(WAIT)).get("more_body"):
        pass
    await communicator.wait(WAIT)  # request_finished is sent after the body
    return start


def _header(start: dict[str, Any], name: bytes) -> str:
    return next(
        value for key, value in start["headers"] if key.lower() == name
    ).decode()


# ------------------------------------------------------------------ the trace


@pytest.mark.usefixtures("traced")
def test_trace_starts_with_request_started_and_ends_with_request_finished(
    client: Client,
) -> None:
    response = client.get("/marker/one/")

    trace = response.wsgi_request.signal_trace
    assert _names(trace) == ["request_started", "marker_sent", "request_finished"]
    assert trace.ended_at is not None


@pytest.mark.usefixtures("traced")
def test_request_signal_trace_is_the_trace_that_received_request_finished(
    client: Client,
) -> None:
    response = client.get("/marker/one/")

    trace = response.wsgi_request.signal_trace
    entry = history.get(response.headers["X-Signaltrace-Id"])
    assert entry is not None
    assert trace.events[-1].signal is request_finished
    assert len(entry.to_dict()["trace"]["events"]) == len(trace.events)


@pytest.mark.django_db
@pytest.mark.usefixtures("traced")
def test_records_the_views_model_save(client: Client) -> None:
    def on_author_saved(sender: object, **kwargs: object) -> None:
        pass

    post_save.connect(on_author_saved, sender=Author)
    try:
        response = client.get("/author/", {"name": "Grace"})
    finally:
        post_save.disconnect(on_author_saved, sender=Author)

    [event] = response.wsgi_request.signal_trace.filter(post_save)
    assert event.sender_name == "tests.app.models.Author"
    assert event.kwargs["created"] is True
    assert [call.name for call in event.receivers] == [
        f"{__name__}.test_records_the_views_model_save.<locals>.on_author_saved"
    ]


@pytest.mark.usefixtures("traced")
def test_nested_send_is_recorded_under_the_receiver_that_sent_it(
    client: Client,
) -> None:
    response = client.get("/nested/")

    trace = response.wsgi_request.signal_trace
    [outer] = trace.filter(outer_sent)
    [inner] = trace.filter(inner_sent)
    assert inner.parent is outer
    assert inner.depth == 1
    assert outer.receivers[0].children == [inner]


@pytest.mark.usefixtures("traced")
def test_failing_view_records_got_request_exception() -> None:
    client = Client(raise_request_exception=False)

    response = client.get("/fail/")

    assert response.status_code == 500
    trace = response.wsgi_request.signal_trace
    [event] = trace.filter(got_request_exception)
    assert event.kwargs["request"] == "<WSGIRequest: GET '/fail/'>"
    assert _names(trace)[-1] == "request_finished"
    entry = history.get(response.headers["X-Signaltrace-Id"])
    assert entry is not None
    assert entry.status == 500


@pytest.mark.usefixtures("traced")
def test_streaming_response_trace_ends_when_the_stream_ends(client: Client) -> None:
    response = client.get("/stream/")
    trace = response.wsgi_request.signal_trace
    assert "request_finished" not in _names(trace)
    assert history.get(response.headers["X-Signaltrace-Id"]) is None

    content = b"".join(response.streaming_content)

    assert content == b"chunk" * 3
    assert _names(trace) == [
        "request_started",
        "marker_sent",
        "marker_sent",
        "marker_sent",
        "request_finished",
    ]
    assert _markers(trace) == {"chunk-0", "chunk-1", "chunk-2"}
    assert history.get(response.headers["X-Signaltrace-Id"]) is not None


@pytest.mark.usefixtures("traced")
def test_request_inside_a_capture_is_recorded_by_both(client: Client) -> None:
    with signaltrace.capture() as outer:
        response = client.get("/marker/one/")
        marker_sent.send(sender=None, marker="after the request")

    request_trace = response.wsgi_request.signal_trace
    assert _markers(request_trace) == {"one"}
    assert _markers(outer) == {"one", "after the request"}
    assert request_trace.events[0] is outer.events[0]


@pytest.mark.usefixtures("traced", "no_db_reconnect")
def test_a_request_trace_left_open_is_ended_by_the_next_request_started() -> None:
    handler = WSGIHandler()
    factory = RequestFactory()
    # A server that never closes this response never sends its request_finished.
    handler(factory.get("/marker/abandoned/").environ, lambda *args: None)

    body = handler(factory.get("/marker/next/").environ, lambda *args: None)
    body.close()

    following, abandoned = history.entries()
    assert abandoned.path == "/marker/abandoned/"
    assert [event["signal"] for event in abandoned.to_dict()["trace"]["events"]] == [
        "django.core.signals.request_started",
        "tests.app.views.marker_sent",
    ]
    assert following.path == "/marker/next/"
    markers = [event.kwargs.get("marker") for event in following.trace.events]
    assert markers == [None, "next", None]


@pytest.mark.usefixtures("traced")
def test_stopping_request_tracing_ends_a_request_left_open(client: Client) -> None:
    response = client.get("/stream/")  # its stream is never consumed

    request_scope.stop_request_tracing()

    assert request_scope.request_trace() is None
    assert context.active_traces() == ()
    assert response.wsgi_request.signal_trace.ended_at is not None
    assert history.entries() == []


@pytest.mark.usefixtures("traced")
def test_request_answered_above_the_middleware_is_not_kept(
    client: Client, settings: Any
) -> None:
    settings.MIDDLEWARE = [f"{__name__}.AnswerEarly", MIDDLEWARE]

    response = client.get("/hello/")

    assert response.content == b"early"
    assert request_scope.is_request_tracing()
    assert history.entries() == []


# ----------------------------------------------------------------- responses


@pytest.mark.usefixtures("traced")
def test_history_keeps_the_trace_itself_with_its_locations_and_stacks(
    client: Client, settings: Any
) -> None:
    settings.SIGNALTRACE = {"CAPTURE_STACKS": True}
    response = client.get("/marker/one/")

    request = response.wsgi_request
    entry = history.get(response.headers["X-Signaltrace-Id"])
    assert entry is not None
    assert entry.trace is request.signal_trace  # type: ignore[attr-defined]
    events = entry.to_dict()["trace"]["events"]
    assert all(event["stack"] for event in events)
    assert all(event["location"] is not None for event in events)


@pytest.mark.usefixtures("traced")
def test_response_carries_the_trace_id_and_its_viewer_url(client: Client) -> None:
    response = client.get("/marker/one/")

    trace_id = response.headers["X-Signaltrace-Id"]
    assert len(trace_id) == 32
    assert response.headers["X-Signaltrace-Url"] == f"/__signaltrace__/{trace_id}/"
    entry = history.get(trace_id)
    assert entry is not None
    assert (entry.method, entry.path, entry.status) == (
        "GET",
        "/marker/one/",
        200,
    )


@pytest.mark.usefixtures("traced")
def test_no_url_header_when_the_viewer_is_not_included(
    client: Client, settings: Any
) -> None:
    settings.ROOT_URLCONF = UrlsWithoutViewer

    response = client.get("/hello/")

    assert "X-Signaltrace-Id" in response.headers
    assert "X-Signaltrace-Url" not in response.headers


@pytest.mark.usefixtures("traced")
def test_viewer_requests_stay_out_of_the_history(client: Client) -> None:
    client.get("/marker/one/")

    response = client.get("/__signaltrace__/", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    assert "X-Signaltrace-Id" not in response.headers
    assert [entry.path for entry in history.entries()] == ["/marker/one/"]


# ------------------------------------------------------------- on and off


def test_does_nothing_when_debug_is_off(client: Client, settings: Any) -> None:
    settings.DEBUG = False
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]

    response = client.get("/marker/one/")

    assert not hasattr(response.wsgi_request, "signal_trace")
    assert "X-Signaltrace-Id" not in response.headers
    assert not install.is_installed()
    assert not request_scope.is_request_tracing()
    assert not hasattr(Signal.send, "__wrapped__")
    assert "send" not in vars(request_started)
    assert history.entries() == []


def test_enabled_setting_traces_without_debug(client: Client, settings: Any) -> None:
    settings.DEBUG = False
    settings.SIGNALTRACE = {"ENABLED": True}
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]

    response = client.get("/marker/one/")

    assert _markers(response.wsgi_request.signal_trace) == {"one"}


def test_enabled_false_turns_tracing_off_in_debug(
    client: Client, settings: Any
) -> None:
    settings.DEBUG = True
    settings.SIGNALTRACE = {"ENABLED": False}
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]

    response = client.get("/marker/one/")

    assert not hasattr(response.wsgi_request, "signal_trace")
    assert not install.is_installed()


@pytest.mark.usefixtures("traced")
def test_every_instance_shares_one_request_tracing() -> None:
    # Each test client loads its own middleware chain.
    for _ in range(3):
        Client().get("/hello/")

    request_scope.stop_request_tracing()

    assert not install.is_installed()
    assert not hasattr(Signal.send, "__wrapped__")
    assert "send" not in vars(request_started)
    assert "send" not in vars(request_finished)


@pytest.mark.usefixtures("traced")
def test_connects_no_receiver(client: Client) -> None:
    started, finished = (
        list(request_started.receivers),
        list(request_finished.receivers),
    )

    client.get("/hello/")

    assert request_scope.is_request_tracing()
    assert request_started.receivers == started
    assert request_finished.receivers == finished


# ---------------------------------------------------------------------- ASGI


@pytest.mark.usefixtures("traced")
def test_async_client_traces_the_request() -> None:
    async def get() -> Any:
        return await AsyncClient().get("/async-marker/one/")

    response = asyncio.run(get())

    trace = response.asgi_request.signal_trace
    assert _names(trace)[0] == "request_started"
    assert _names(trace)[-1] == "request_finished"
    assert [event.kwargs["marker"] for event in trace.filter(marker_sent)] == [
        "one"
    ] * 3
    assert history.get(response.headers["X-Signaltrace-Id"]) is not None


@pytest.mark.usefixtures("traced", "no_db_reconnect")
def test_asgi_handler_trace_ends_after_the_body_is_sent() -> None:
    async def get() -> dict[str, Any]:
        return await _asgi_get(ASGIHandler(), "/async-marker/asgi/")

    start = asyncio.run(get())

    entry = history.get(_header(start, b"x-signaltrace-id"))
    assert entry is not None
    signals = [event["signal"] for event in entry.to_dict()["trace"]["events"]]
    assert signals[0] == "django.core.signals.request_started"
    assert signals[-1] == "django.core.signals.request_finished"
    assert signals.count("tests.app.views.marker_sent") == 3


@pytest.mark.usefixtures("traced", "no_db_reconnect")
def test_wsgi_handler_trace_ends_when_the_server_closes_the_response() -> None:
    handler = WSGIHandler()
    statuses = []
    environ = RequestFactory().get("/marker/wsgi/").environ

    body = handler(environ, lambda status, headers: statuses.append(headers))
    content = b"".join(body)
    trace_id = dict(statuses[0])["X-Signaltrace-Id"]
    assert history.get(trace_id) is None  # the server has not closed it yet
    body.close()

    assert content == b"wsgi"
    entry = history.get(trace_id)
    assert entry is not None
    assert (
        entry.to_dict()["trace"]["events"][-1]["signal"]
        == "django.core.signals.request_finished"
    )


# --------------------------------------------------------------- concurrency


@pytest.mark.usefixtures("traced")
def test_concurrent_threads_each_get_only_their_own_events() -> None:
    count = 12
    barrier = threading.Barrier(count)
    responses: dict[str, Any] = {}

    def wait_for_everyone(sender: object, **kwargs: object) -> None:
        barrier.wait(WAIT)  # every request is inside its view at once

    def get(marker: str) -> None:
        responses[marker] = Client().get(f"/marker/{marker}/")

    marker_sent.connect(wait_for_everyone)
    try:
        threads = [
            threading.Thread(target=get, args=(f"thread-{n}",)) for n in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    finally:
        marker_sent.disconnect(wait_for_everyone)

    assert len(responses) == count
    for marker, response in responses.items():
        trace = response.wsgi_request.signal_trace
        assert _markers(trace) == {marker}, f"{marker}'s trace: {trace.events}"
        assert _names(trace) == ["request_started", "marker_sent", "request_finished"]
        environ = trace.events[0].kwargs["environ"]
        assert f"'PATH_INFO': '/marker/{marker}/'" in environ
    assert len(history) == count


@pytest.mark.usefixtures("traced")
def test_concurrent_async_client_tasks_each_get_only_their_own_events() -> None:
    count = 20

    async def get_all() -> list[Any]:
        client = AsyncClient()
        return await asyncio.gather(
            *(client.get(f"/async-marker/task-{n}/") for n in range(count))
        )

    responses = asyncio.run(get_all())

    for number, response in enumerate(responses):
        trace = response.asgi_request.signal_trace
        assert _markers(trace) == {f"task-{number}"}, f"task {number}: {trace.events}"
        assert len(trace.filter(marker_sent)) == 3
        assert (
            f"'path': '/async-marker/task-{number}/'" in trace.events[0].kwargs["scope"]
        )
        assert _names(trace)[-1] == "request_finished"


@pytest.mark.usefixtures("traced", "no_db_reconnect")
def test_concurrent_asgi_requests_each_get_only_their_own_events() -> None:
    count = 10

    async def get_all() -> list[dict[str, Any]]:
        application = ASGIHandler()
        return await asyncio.gather(
            *(_asgi_get(application, f"/async-marker/asgi-{n}/") for n in range(count))
        )

    starts = asyncio.run(get_all())

    for number, start in enumerate(starts):
        entry = history.get(_header(start, b"x-signaltrace-id"))
        assert entry is not None
        events = entry.to_dict()["trace"]["events"]
        markers = {e["kwargs"]["marker"] for e in events if "marker" in e["kwargs"]}
        assert markers == {f"asgi-{number}"}
        assert events[-1]["signal"] == "django.core.signals.request_finished"


# ------------------------------------------------------------------- memory


def _live_traces() -> int:
    # type(): isinstance() would evaluate the lazy objects among them.
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), Trace))


@pytest.mark.soak
@pytest.mark.usefixtures("traced", "no_db_reconnect")
def test_ten_thousand_requests_leave_only_the_bounded_history(settings: Any) -> None:
    # Through the WSGI handler as a server calls it: the test client itself
    # keeps a little for every request (a weakref.finalize per connect()).
    settings.MIDDLEWARE = [MIDDLEWARE]
    handler = WSGIHandler()
    factory = RequestFactory()

    def get() -> None:
        body = handler(factory.get("/marker/x/").environ, lambda *args: None)
        b"".join(body)
        body.close()

    for _ in range(1_000):  # fills the history and every cache
        get()
    gc.collect()
    traces_before, objects_before = _live_traces(), len(gc.get_objects())
    tracemalloc.start()
    try:
        for _ in range(9_000):
            get()
        gc.collect()
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(history) == 50
    assert _live_traces() <= traces_before
    # The 50 entries that replaced the warm-up's hold about 350 kB and a few
    # thousand containers; one object kept per request would break both bounds.
    assert len(gc.get_objects()) - objects_before < 5_000
    assert held < 1_000_000, f"{held} bytes still held after 9,000 requests"


@pytest.mark.soak
@pytest.mark.usefixtures("traced", "no_db_reconnect")
def test_ten_thousand_requests_of_large_traces_stay_within_the_memory_bound(
    settings: Any,
) -> None:
    budget = 2_000_000
    settings.MIDDLEWARE = [MIDDLEWARE]
    settings.SIGNALTRACE = {"HISTORY_MAX_BYTES": budget}
    handler = WSGIHandler()
    factory = RequestFactory()

    def get(number: int) -> None:
        environ = factory.get(f"/large/{number}/", {"sends": "20"}).environ
        body = handler(environ, lambda *args: None)
        b"".join(body)
        body.close()

    for number in range(9_000):
        get(number)
    gc.collect()
    objects_before = len(gc.get_objects())  # the history is full by now
    # The last thousand under tracemalloc: by then, all the history holds was
    # made by them, and so is anything they leaked.
    tracemalloc.start()
    try:
        for number in range(9_000, 10_000):
            get(number)
        gc.collect()
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert history.bytes <= budget
    assert 0 < len(history) < 50  # the memory bound, not the count, decides
    # What the history holds is its estimate at most; the rest went.
    assert held < budget, f"{held} bytes held for a {budget} budget"
    # A full history holds as much after a thousand more requests as before.
    assert len(gc.get_objects()) - objects_before < 500


@pytest.mark.usefixtures("traced", "no_db_reconnect")
def test_outside_a_request_signal_and_connections_are_djangos_own(
    settings: Any,
) -> None:
    from django.db import connection

    from signaltrace import queries

    settings.MIDDLEWARE = [MIDDLEWARE]
    handler = WSGIHandler()
    original_send = Signal.__dict__["send"]
    seen_inside: list[bool] = []

    def looks(sender: object, **kwargs: object) -> None:
        seen_inside.append(install.is_installed())
        Author.objects.count()  # the connection gets the query wrapper now

    marker_sent.connect(looks)
    try:
        body = handler(RequestFactory().get("/marker/x/").environ, lambda *a: None)
        b"".join(body)
        body.close()
    finally:
        marker_sent.disconnect(looks)

    assert seen_inside == [True]
    assert request_scope.is_request_tracing()
    assert not install.is_installed()
    assert Signal.__dict__["send"] is original_send
    assert queries._record not in connection.execute_wrappers


# ------------------------------------------------------------------ logging


@pytest.mark.usefixtures("traced")
def test_logs_one_info_record_per_request_with_the_trace(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="signaltrace")

    response = client.get("/nested/")

    [record] = [r for r in caplog.records if r.name == "signaltrace"]
    entry = history.get(response.headers["X-Signaltrace-Id"])
    assert entry is not None
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        f"GET /nested/ 200: sends={entry.sends} receiver_calls={entry.receiver_calls}"
        f" errors=0 signal_ms={entry.signal_ms:.3f}"
    )
    assert record.signal_trace == entry.to_dict()["trace"]
    assert record.signal_trace_id == entry.id


@pytest.mark.usefixtures("traced")
def test_logs_one_debug_record_per_send(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="signaltrace")

    client.get("/nested/")

    records = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert [r.signal_event["signal"].rpartition(".")[2] for r in records] == [
        "request_started",
        "outer_sent",
        "inner_sent",
        "request_finished",
    ]
    assert records[2].getMessage().startswith("  tests.app.views.inner_sent ")


def test_logger_has_no_handler_of_its_own() -> None:
    assert logging.getLogger("signaltrace").handlers == []


@pytest.mark.usefixtures("traced")
def test_builds_the_trace_dict_once_per_request(
    client: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="signaltrace")
    calls = []
    to_dict = Trace.to_dict
    monkeypatch.setattr(
        Trace, "to_dict", lambda self: calls.append(self) or to_dict(self)
    )

    client.get("/nested/")

    assert len(calls) == 1


@pytest.mark.usefixtures("traced")
def test_builds_nothing_without_history_or_logging(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SIGNALTRACE = {"HISTORY_SIZE": 0}
    logging.getLogger("signaltrace").setLevel(logging.WARNING)
    calls = []
    monkeypatch.setattr(Trace, "to_dict", calls.append)
    try:
        response = client.get("/nested/")
    finally:
        logging.getLogger("signaltrace").setLevel(logging.NOTSET)

    assert response.wsgi_request.signal_trace.ended_at is not None
    assert calls == []
    assert history.entries() == []
