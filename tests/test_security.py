"""What docs/security.rst promises: no surface shows a secret, breaks on a value
or a depth, lets a traced text drive the terminal, or records across contexts.

- Masking: each secret is sent through every surface (the trace's JSON, the
  text tree, the viewer, the toolbar panel, the log records, the pytest
  report, snapshots, assertion failure messages) and appears on none of them,
  whole or in part, while the rest of its value still shows.
- Bad input: an int too long to print reaches every surface as a placeholder;
  a chain of sends 150 deep renders everywhere.
- The command: its own exit status wins over a trace it could not write;
  control characters in names and messages are printed escaped.
- Response headers, sends dropped at ``MAX_EVENTS`` said on every surface,
  and captures that record only in their own context and time.

This module is also the URLconf of its request tests.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from debug_toolbar.store import get_store
from debug_toolbar.toolbar import DebugToolbar
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView
from django.contrib.sessions.models import Session
from django.core.management import ManagementUtility, call_command
from django.db.models.signals import post_init, post_save, pre_init
from django.dispatch import Signal, receiver
from django.http import HttpRequest, HttpResponse
from django.http.request import HttpHeaders
from django.test import Client
from django.urls import include, path
from django.utils import timezone

from signaltrace import capture, context, install, request_scope, snapshot
from signaltrace.assertions import SignalTrace
from signaltrace.conf import DEFAULTS
from signaltrace.history import HistoryEntry, history
from signaltrace.panels import SignalTracePanel
from signaltrace.render import render_text
from signaltrace.testing import capture_signals
from tests import urls as test_urls
from tests.app.signals import book_published
from tests.app.views import marker_sent, unheard

pytest_plugins = ["pytester"]

MASK = DEFAULTS.MASK
MIDDLEWARE = "signaltrace.middleware.SignalTraceMiddleware"
PANEL = "SignalTracePanel"
#: Bounds how long a test waits for its own thread: a hang guard.
WAIT = 30

# ------------------------------------------------------------------- signals

#: Carries the values under test; its receiver returns them, so that each
#: value is also described as a response.
value_sent = Signal()
#: Its receiver raises an exception whose message holds a secret.
lookup_sent = Signal()
#: Each receiver call sends it again, one level deeper (see CHAIN_DEPTH).
chain_sent = Signal()
#: Never sent: an assertion on it fails and lists the sends that happened.
never_sent = Signal()

#: How many sends the chain nests: far beyond any recursion of the renderers.
CHAIN_DEPTH = 150
#: An int of more than 4,300 digits, which Python refuses to print.
HUGE = 10**5000
HUGE_TEXT = f"<int of {HUGE.bit_length()} bits>"


class LookupFailed(Exception):
    """What the receiver of ``lookup_sent`` raises."""


@receiver(value_sent)
def echo(sender: object, **kwargs: Any) -> dict[str, Any]:
    return {name: value for name, value in kwargs.items() if name != "signal"}


@receiver(lookup_sent)
def look_up(sender: object, **kwargs: Any) -> None:
    raise LookupFailed(f"lookup failed: https://api.example/v1/items?token={SECRET}")


@receiver(chain_sent)
def go_deeper(sender: object, depth: int, **kwargs: Any) -> None:
    if depth < CHAIN_DEPTH:
        chain_sent.send(sender=None, depth=depth + 1)


# ------------------------------------------------------------------- secrets

SECRET = "abc123secret"
SESSION_KEY = "k7v2q9s3ss10nk3y5x8m1n4b6c0z3w5r"
PASSWORD = "correct-horse-battery-staple-42"
#: Names masked by the short words of HIDDEN_NAMES, or by the long ones.
HIDDEN_KWARG_NAMES = (
    "credit_card",
    "card_number",
    "cvv",
    "pin",
    "iban",
    "otp",
    "ssn",
    "bearer",
    "auth",
    "private_key",
    "cardNumber",
    "userPin",
    "otpCode",
    "totp",
    "cc_number",
    "social_security_number",
)
#: Names that merely contain one of the short words: never masked.
INNOCENT_KWARG_NAMES = (
    "author",
    "shipping",
    "discard",
    "footprint",
    "classname",
    "spinner",
    "hotpot",
)


@dataclass(frozen=True)
class Case:
    """A secret, how a project sends it, and what must (not) show of it.

    Attributes:
        id: the test id.
        send: what the view ``/send/<id>/`` does with its request.
        hidden: texts that must appear on no surface (also with their spaces
            and dashes taken out).
        shown: texts each kind of surface must show: the rest of the value,
            which proves that it reached the surface at all.
        message: the rest of an exception's message, which each kind of
            surface that shows messages must show.
        run: what the test client does; by default it asks ``/send/<id>/``.
            Returns the secrets learnt on the way (a session key it was given).
    """

    id: str
    send: Callable[[HttpRequest], object] = lambda request: None
    hidden: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()
    message: str = ""
    run: Callable[[Client, Case], tuple[str, ...]] = field(
        default=lambda client, case: _get(client, f"/send/{case.id}/")
    )


def _get(client: Client, url: str, **data: str) -> tuple[str, ...]:
    response = client.get(url, data)
    assert response.status_code == 200, response.content
    return ()


def _sending(**kwargs: Any) -> Callable[[HttpRequest], object]:
    return lambda request: value_sent.send(sender=None, **kwargs)


def _send_session(request: HttpRequest) -> None:
    session = Session.objects.create(
        session_key=SESSION_KEY,
        session_data="e30",
        expire_date=timezone.now() + timedelta(days=1),
    )
    value_sent.send(sender=Session, instance=session)


def _catch_all(sender: object, **kwargs: Any) -> None:
    """A project's receiver of every model's sends, the sessions' included."""


def _log_in(client: Client, case: Case) -> tuple[str, ...]:
    """Log in through the login view, then make a request with the session.

    Returns the session's key and the user's password hash.
    """
    User.objects.create_user("ada", password=PASSWORD)
    post_save.connect(_catch_all)
    try:
        response = client.post("/login/", {"username": "ada", "password": PASSWORD})
        assert response.status_code == 302, "the login failed"
        assert client.get("/whoami/").content == b"ada"
    finally:
        post_save.disconnect(_catch_all)
    key = client.cookies["sessionid"].value
    digest = User.objects.get(username="ada").password.rpartition("$")[2]
    return (key, key[:12], key[-12:], digest)


def _log_in_with_init_receivers(client: Client, case: Case) -> tuple[str, ...]:
    """As _log_in, with a project's receivers of pre_init and post_init.

    They make every model instance created or loaded a recorded send.
    """
    pre_init.connect(_catch_all)
    post_init.connect(_catch_all)
    try:
        return _log_in(client, case)
    finally:
        pre_init.disconnect(_catch_all)
        post_init.disconnect(_catch_all)


def _ask_with_token(client: Client, case: Case) -> tuple[str, ...]:
    return _get(client, f"/send/{case.id}/", token=SECRET, page="2")


CASES = [
    Case(
        "session-instance",
        send=_send_session,
        hidden=(SESSION_KEY, SESSION_KEY[:12], SESSION_KEY[-12:]),
        shown=("<sessions.Session ",),
    ),
    Case(
        "login",
        run=_log_in,
        hidden=(PASSWORD, "battery-staple"),
        shown=("<sessions.Session ",),
    ),
    Case(
        "login-with-init-receivers",
        run=_log_in_with_init_receivers,
        hidden=(PASSWORD, "battery-staple"),
        shown=("<sessions.Session ",),
    ),
    Case(
        "asgi-scope-headers",
        send=_sending(
            scope={
                "type": "http",
                "path": "/checkout/",
                "headers": [
                    (b"authorization", b"Bearer abc123secret"),
                    (b"cookie", b"sessionid=abc123secret"),
                ],
            }
        ),
        hidden=(SECRET, "123secret"),
        shown=("b'authorization'", "b'cookie'", "/checkout/"),
    ),
    Case(
        "wsgi-environ-query-string",
        send=_sending(
            environ={
                "wsgi.version": (1, 0),
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/search/",
                "QUERY_STRING": "token=abc123secret&page=2",
            }
        ),
        hidden=(SECRET, "123secret"),
        shown=("page=2", "/search/"),
    ),
    Case(
        "request-query-string",
        send=lambda request: value_sent.send(sender=None, request=request),
        run=_ask_with_token,
        hidden=(SECRET, "123secret"),
        shown=("page=2",),
    ),
    Case(
        "card-number-spaced",
        send=_sending(note="paid with 4111 1111 1111 1111 today"),
        hidden=("4111111111111111", "4111 1111", "1111 1111 1111"),
        shown=("paid with",),
    ),
    Case(
        # Digits next to the card's are not taken for part of it.
        "card-number-between-digits",
        send=_sending(note="order 12 4111 1111 1111 1111 expires 12 30"),
        hidden=("4111111111111111", "4111 1111", "1111 1111 1111"),
        shown=("order 12", "expires 12 30"),
    ),
    Case(
        "card-number-digits",
        send=_sending(note="paid with 4111111111111111 today"),
        hidden=("4111111111111111", "411111111111"),
        shown=("paid with",),
    ),
    Case(
        "url-credentials",
        send=_sending(dsn="https://ada:hunter2secret@db.example/x"),
        hidden=("hunter2", "ada:h"),
        shown=("@db.example/x",),
    ),
    *(
        Case(
            f"kwarg-{name}",
            send=_sending(**{name: f"value-of-{name}"}),
            hidden=(f"value-of-{name}",),
            shown=(name, MASK),
        )
        for name in HIDDEN_KWARG_NAMES
    ),
    Case(
        "url-credentials-past-the-cut",
        send=_sending(dsn="https://ada:" + "s3cr3t" * 60 + "@db.example/x"),
        hidden=("s3cr3ts3cr3t", "ada:s"),
        shown=("https://",),
    ),
    Case(
        "header-pairs",
        send=_sending(headers=[("Authorization", "Bearer abc123secret")]),
        hidden=(SECRET, "123secret"),
        shown=("'Authorization'",),
    ),
    Case(
        # Every shape headers come in, with values only their names mask.
        "header-shapes",
        send=_sending(
            pair=("Authorization", "Token abc123secret"),
            lists=[["Authorization", "Token abc123secret"], ["Accept", "*/*"]],
            asgi_lists=[[b"cookie", b"remember=abc123secret"]],
            by_bytes={b"authorization": b"Token abc123secret"},
            request_headers=HttpHeaders(
                {"HTTP_COOKIE": "abc123secret", "HTTP_ACCEPT": "text/html"}
            ),
        ),
        hidden=(SECRET, "123secret"),
        shown=("'Authorization'", "b'cookie'", "HttpHeaders(", "text/html"),
    ),
    Case(
        "set-cookie-header",
        send=_sending(headers={"Set-Cookie": "sessionid=abc123secret"}),
        hidden=(SECRET, "123secret"),
        shown=("'Set-Cookie'",),
    ),
    Case(
        # Values no pattern recognises: only the header's name masks them.
        "headers-masked-by-name-alone",
        send=_sending(
            scope={
                "type": "http",
                "headers": [
                    (b"authorization", b"Token abc123secret"),
                    (b"cookie", b"abc123secret"),
                ],
            },
            pairs=[("Proxy-Authorization", "Token abc123secret")],
            headers={"Set-Cookie": "abc123secret; Path=/"},
        ),
        hidden=(SECRET, "123secret"),
        shown=("b'authorization'", "'Proxy-Authorization'", "'Set-Cookie'"),
    ),
    Case(
        "exception-message",
        send=lambda request: lookup_sent.send_robust(sender=None),
        hidden=(SECRET, "123secret"),
        shown=("LookupFailed",),
        message="lookup failed: https://api.example/v1/items?token=",
    ),
]
CASES_BY_ID = {case.id: case for case in CASES}
#: What each case's run learnt, when run by a pytester test in this process.
LEARNT: dict[str, tuple[str, ...]] = {}

INNOCENT = Case(
    "innocent-names",
    send=_sending(**{name: f"shown-{name}" for name in INNOCENT_KWARG_NAMES}),
    shown=tuple(f"shown-{name}" for name in INNOCENT_KWARG_NAMES),
)
VIEW_CASES = {case.id: case for case in [*CASES, INNOCENT]}

# --------------------------------------------------------------------- views


def send_case(request: HttpRequest, case: str) -> HttpResponse:
    VIEW_CASES[case].send(request)
    return HttpResponse("sent")


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.get_username())


def send_huge(request: HttpRequest) -> HttpResponse:
    value_sent.send(sender=None, value=HUGE)
    return HttpResponse("huge")


def send_chain(request: HttpRequest) -> HttpResponse:
    chain_sent.send(sender=None, depth=1)
    return HttpResponse("chain")


urlpatterns = [
    path("__debug__/", include("debug_toolbar.urls")),
    path("login/", LoginView.as_view()),
    path("whoami/", whoami),
    path("send/<str:case>/", send_case),
    path("huge/", send_huge),
    path("chain/", send_chain),
    *test_urls.urlpatterns,
]

# ------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    yield
    request_scope.stop_request_tracing()
    history.clear()


@pytest.fixture
def traced(settings: Any) -> Any:
    """DEBUG on, this URLconf, the middleware first."""
    settings.DEBUG = True
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]
    return settings


@pytest.fixture
def toolbar(traced: Any) -> Iterator[Any]:
    """The middleware, then the toolbar with our panel, storing in memory."""
    traced.MIDDLEWARE = [
        MIDDLEWARE,
        "debug_toolbar.middleware.DebugToolbarMiddleware",
        *traced.MIDDLEWARE[1:],
    ]
    traced.DEBUG_TOOLBAR_PANELS = ["signaltrace.panels.SignalTracePanel"]
    traced.DEBUG_TOOLBAR_CONFIG = {
        "TOOLBAR_STORE_CLASS": "debug_toolbar.store.MemoryStore"
    }
    SignalTracePanel.ready()
    yield traced
    get_store().clear()


@pytest.fixture
def toolbars() -> Iterator[list[DebugToolbar]]:
    """The toolbars the toolbar's middleware creates, in order."""
    created: list[DebugToolbar] = []

    def collect(sender: object, toolbar: DebugToolbar, **kwargs: object) -> None:
        created.append(toolbar)

    DebugToolbar._created.connect(collect)
    yield created
    DebugToolbar._created.disconnect(collect)


@pytest.fixture
def installed() -> Iterator[None]:
    """Keep the wrappers on Signal, as another capture or request would.

    So that a send after a capture ended does go through the recorder, which
    must then leave the ended capture alone.
    """
    install.acquire()
    yield
    install.release()


def panel_content(request_id: str) -> str:
    """The panel as the toolbar loads it when it is opened: from the store."""
    stored = DebugToolbar.fetch(request_id, PANEL)
    assert stored is not None, f"request {request_id} is not in the store"
    content: str = stored.get_panel_by_id(PANEL).content
    return content


# ------------------------------------------------------------------ surfaces


@dataclass(frozen=True)
class Surface:
    """Where a trace is shown, and what it showed."""

    kind: str
    text: str
    #: Whether it shows the values in full (a log message shows none, the
    #: short text tree cuts them).
    shows_values: bool = True
    #: Whether it shows exceptions' messages (snapshots show their class).
    shows_messages: bool = True
    detail: str = ""


def _squeezed(text: str) -> str:
    """Without spaces and dashes: a card number printed another way is found."""
    return re.sub(r"[\s-]", "", text)


def problems(
    surfaces: list[Surface], case: Case, learnt: tuple[str, ...] = ()
) -> list[str]:
    """Each secret a surface shows, and each part of a value a surface lost."""
    found = []
    for surface in surfaces:
        squeezed = _squeezed(surface.text)
        for secret in case.hidden + learnt:
            if secret in surface.text or _squeezed(secret) in squeezed:
                found.append(f"{surface.kind} {surface.detail} shows {secret!r}")
    kinds = {surface.kind: surface for surface in surfaces if surface.shows_values}
    for kind, surface in sorted(kinds.items()):
        texts = [s.text for s in surfaces if s.kind == kind]
        wanted = case.shown
        if case.message and surface.shows_messages:
            wanted += (case.message,)
        for value in wanted:
            if not any(value in text for text in texts):
                found.append(f"{kind} does not show {value!r}")
    return found


def request_surfaces(
    client: Client,
    case: Case,
    caplog: pytest.LogCaptureFixture,
    toolbars: list[DebugToolbar],
) -> tuple[list[Surface], tuple[str, ...]]:
    """Run *case* through the middleware and the toolbar; every surface of it.

    Each request's trace as JSON and as the text tree, its viewer page, its
    toolbar panel, and the log records. Returns the secrets the run learnt.
    """
    caplog.set_level(logging.INFO, logger="signaltrace")
    learnt = case.run(client, case)
    request_ids = [created.request_id for created in toolbars]
    entries = history.entries()
    assert entries, "no request was kept"
    viewer = Client()
    surfaces = []
    for entry in entries:
        data = entry.to_dict()["trace"]
        where = f"({entry.method} {entry.path})"
        page = viewer.get(f"/__signaltrace__/{entry.id}/")
        assert page.status_code == 200
        surfaces += [
            Surface("trace JSON", json.dumps(data, ensure_ascii=False), detail=where),
            Surface("text tree", render_text(data, verbosity=2), detail=where),
            Surface(
                "short text tree", render_text(data), shows_values=False, detail=where
            ),
            Surface("viewer page", html.unescape(page.content.decode()), detail=where),
        ]
    surfaces += [
        Surface("toolbar panel", html.unescape(panel_content(request_id)))
        for request_id in request_ids
    ]
    records = [record for record in caplog.records if record.name == "signaltrace"]
    assert records, "nothing was logged"
    for record in records:
        trace = json.dumps(record.signal_trace, ensure_ascii=False)  # type: ignore[attr-defined]
        surfaces += [
            Surface("log message", record.getMessage(), shows_values=False),
            Surface("log record's signal_trace", trace),
        ]
    return surfaces, learnt


def capture_surfaces(
    client: Client, case: Case
) -> tuple[list[Surface], tuple[str, ...]]:
    """Run *case* in a test's capture; every surface of the test tools.

    The capture's JSON and text tree, its snapshot (the text a snapshot file
    holds), and the failure message of an assertion on a signal that was not
    sent, which lists the sends.
    """
    with capture_signals() as trace:
        learnt = case.run(client, case)
    data = trace.to_dict()
    with pytest.raises(AssertionError) as failure:
        trace.assert_sent(never_sent)
    return [
        Surface("captured trace JSON", json.dumps(data, ensure_ascii=False)),
        Surface("captured text tree", render_text(data, verbosity=2)),
        Surface(
            "snapshot",
            snapshot.render(trace.events, dropped=trace.dropped),
            shows_messages=False,
        ),
        Surface("assertion failure message", str(failure.value)),
    ], learnt


#: The bug behind each case known to show a secret on some surface.


def case_params() -> list[Any]:
    """The cases, each with its id."""
    return [pytest.param(case, id=case.id) for case in CASES]


# ------------------------------------------------------------------- masking


@pytest.mark.django_db
@pytest.mark.usefixtures("toolbar")
@pytest.mark.parametrize("case", case_params())
def test_request_surfaces_show_no_secret(
    client: Client,
    caplog: pytest.LogCaptureFixture,
    toolbars: list[DebugToolbar],
    case: Case,
) -> None:
    surfaces, learnt = request_surfaces(client, case, caplog, toolbars)

    assert problems(surfaces, case, learnt) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "case",
    case_params(),
)
def test_test_tool_surfaces_show_no_secret(
    client: Client, settings: Any, case: Case
) -> None:
    settings.ROOT_URLCONF = __name__

    surfaces, learnt = capture_surfaces(client, case)

    assert problems(surfaces, case, learnt) == []


INNER_SECRETS = """
import pytest
from django.test import Client

from tests import test_security


@pytest.mark.parametrize("case", test_security.CASES, ids=lambda case: case.id)
def test_case(case):
    test_security.LEARNT[case.id] = case.run(Client(), case)
    assert False, "failed, to get the signals in the report"
"""


def report_sections(result: pytest.RunResult) -> dict[str, str]:
    """The "Captured signals call" section of each failed test, by test id."""
    sections: dict[str, str] = {}
    current = None
    inside = False
    for line in result.stdout.lines:
        header = re.fullmatch(r"_{3,} test_case\[(.+)\] _{3,}", line)
        if header:
            current, inside = header[1], False
        elif re.fullmatch(r"-{3,} Captured signals call -{3,}", line):
            inside = True
        elif re.fullmatch(r"[-=_]{3,}.*", line):
            inside = False
        elif inside and current is not None:
            sections[current] = sections.get(current, "") + line + "\n"
    return sections


def report_problems(pytester: pytest.Pytester, cases: list[Case]) -> list[str]:
    """Run *cases* in one failing test each with ``--signaltrace``; what the
    "Captured signals call" section of each showed that it must not.
    """
    pytester.makepyfile(test_secrets=INNER_SECRETS)
    LEARNT.clear()

    result = pytester.runpytest_inprocess(
        "-p",
        "no:django",
        "--signaltrace",
        *(f"test_secrets.py::test_case[{case.id}]" for case in cases),
    )

    result.assert_outcomes(failed=len(cases))
    sections = report_sections(result)
    return [
        f"[{case.id}] {problem}"
        for case in cases
        for problem in problems(
            [
                Surface(
                    "report section", sections.get(case.id, ""), shows_messages=False
                )
            ],
            case,
            LEARNT.get(case.id, ()),
        )
    ]


@pytest.mark.django_db
def test_pytest_report_section_shows_no_secret(
    pytester: pytest.Pytester, settings: Any
) -> None:
    settings.ROOT_URLCONF = __name__
    cases = [case for case in CASES if case.id != "login-with-init-receivers"]

    assert report_problems(pytester, cases) == []


@pytest.mark.django_db
def test_pytest_report_section_shows_no_secret_of_models_loaded_with_init_receivers(
    pytester: pytest.Pytester, settings: Any
) -> None:
    settings.ROOT_URLCONF = __name__

    assert report_problems(pytester, [CASES_BY_ID["login-with-init-receivers"]]) == []


@pytest.mark.django_db
@pytest.mark.usefixtures("toolbar")
def test_names_merely_containing_a_short_word_show_their_values_on_every_surface(
    client: Client,
    caplog: pytest.LogCaptureFixture,
    toolbars: list[DebugToolbar],
) -> None:
    surfaces, _ = request_surfaces(client, INNOCENT, caplog, toolbars)
    test_tools, _ = capture_surfaces(client, INNOCENT)

    assert problems(surfaces + test_tools, INNOCENT) == []


# ---------------------------------------------------------------- bad input


@pytest.mark.usefixtures("toolbar")
def test_a_huge_int_leaves_the_toolbar_panel_answering(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/huge/")

    answer = client.get(
        "/__debug__/render_panel/",
        {"request_id": toolbars[0].request_id, "panel_id": PANEL},
    )

    assert answer.status_code == 200
    assert html.escape(HUGE_TEXT) in answer.json()["content"]


@pytest.mark.usefixtures("traced")
def test_a_huge_int_leaves_the_request_trace_kept_and_viewable(client: Client) -> None:
    response = client.get("/huge/")

    page = client.get(response.headers["X-Signaltrace-Url"])

    assert page.status_code == 200
    assert html.escape(HUGE_TEXT) in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("output", [[], ["--json"]], ids=["text", "json"])
def test_a_huge_int_leaves_the_command_exiting_0(
    capsys: pytest.CaptureFixture[str], output: list[str]
) -> None:
    def publish_huge(sender: object, **kwargs: Any) -> int:
        value_sent.send(sender=None, value=HUGE)
        return HUGE

    book_published.connect(publish_huge)
    try:
        # Returns, rather than exit with a status (SystemExit), when it passed.
        ManagementUtility(
            ["manage.py", "signaltrace", *output, "publishbook", "Dune"]
        ).execute()
    finally:
        book_published.disconnect(publish_huge)

    assert HUGE_TEXT in capsys.readouterr().out


INNER_HUGE = """
from django.dispatch import Signal, receiver

value_sent = Signal()


@receiver(value_sent)
def echo(sender, **kwargs):
    return kwargs["value"]


def test_fails():
    value_sent.send(sender=None, value=10**5000)
    assert False


def test_snapshot(signal_trace):
    value_sent.send(sender=None, value=10**5000)
    signal_trace.assert_matches_snapshot()
"""


def test_a_huge_int_leaves_pytest_reporting_without_internal_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_huge=INNER_HUGE)

    result = pytester.runpytest_inprocess("-p", "no:django", "--signaltrace")

    assert "INTERNALERROR" not in result.stdout.str()
    result.assert_outcomes(passed=1, failed=1)
    assert f"    kwargs: value={HUGE_TEXT}" in result.stdout.lines
    written = pytester.path / "__signals__" / "test_huge" / "test_snapshot.txt"
    assert f"    kwargs: value={HUGE_TEXT}\n" in written.read_text()


@pytest.mark.parametrize("keep_values", [False, True], ids=["described", "live"])
def test_assert_sent_on_a_huge_int_fails_with_an_assertion_error(
    keep_values: bool,
) -> None:
    with capture(keep_values=keep_values) as trace:
        value_sent.send(sender=None, value=HUGE)

    with pytest.raises(AssertionError) as failure:
        trace.assert_sent(value_sent, value=1)

    assert f"kwargs: value={HUGE_TEXT}" in str(failure.value)


# ------------------------------------------------------------------- depth


class _Sends(HTMLParser):
    """The sends of the waterfall: each one's signal, the sends its element is
    nested in, and the send it names as its parent (``data-st-parent``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.open_items: list[bool] = []  # per open <li>: is it a send?
        self.in_signal = False
        self.sends: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "li":
            send = "st-send" in classes
            if send:
                self.sends.append(
                    {
                        "id": attributes.get("data-st-id"),
                        "parent": attributes.get("data-st-parent") or None,
                        "enclosing": sum(self.open_items),
                    }
                )
            self.open_items.append(send)
        self.in_signal = tag == "code" and "st-signal" in classes

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self.open_items.pop()
        self.in_signal = False

    def handle_data(self, data: str) -> None:
        if self.in_signal:
            self.sends[-1]["name"] = data


def chain_depths(content: str) -> list[int]:
    """How deep each ``chain_sent`` is shown: the sends around it, whether
    its element is nested in theirs or points to its parent's.
    """
    parser = _Sends()
    parser.feed(content)
    parents = {send["id"]: send["parent"] for send in parser.sends}
    depths = []
    for send in parser.sends:
        if send.get("name") != "chain_sent":
            continue
        depth, parent = send["enclosing"], send["parent"]
        while parent is not None:
            depth, parent = depth + 1, parents.get(parent)
        depths.append(depth)
    return depths


#: Until the rewrite of the HTML waterfall lands, a send's template includes
#: the template of the sends below it, once per level.


def deep_trace() -> SignalTrace:
    with capture() as trace:
        chain_sent.send(sender=None, depth=1)
    return trace


def test_a_chain_of_150_nested_sends_renders_as_a_text_tree() -> None:
    data = deep_trace().to_dict()

    lines = render_text(data).splitlines()

    sends = [line for line in lines if "tests.test_security.chain_sent" in line]
    assert len(sends) == CHAIN_DEPTH
    assert "depth=150" in sends[-1]
    # Each level indents by a receiver's and a send's guides.
    assert len(sends[-1]) - len(sends[-1].lstrip("│├└─ ")) == 6 * (CHAIN_DEPTH - 1)
    assert data["events"][-1]["depth"] == CHAIN_DEPTH - 1


def test_a_chain_of_150_nested_sends_renders_in_the_viewer(
    client: Client, settings: Any
) -> None:
    settings.DEBUG = True
    # An error propagates, rather than render Django's page of its traceback.
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True
    history.add(
        HistoryEntry(
            deep_trace(), trace_id="d" * 32, method="GET", path="/", status=200
        )
    )

    page = client.get(f"/__signaltrace__/{'d' * 32}/")

    assert page.status_code == 200
    assert chain_depths(page.content.decode()) == list(range(CHAIN_DEPTH))


@pytest.mark.usefixtures("toolbar")
def test_a_chain_of_150_nested_sends_renders_in_the_toolbar_panel(
    client: Client, toolbars: list[DebugToolbar]
) -> None:
    client.get("/chain/")

    content = panel_content(toolbars[0].request_id)

    assert chain_depths(content) == list(range(CHAIN_DEPTH))


# ------------------------------------------------------------- the command


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("how", "status"), [("command-error", 3), ("exit", 4)], ids=["error", "exit"]
)
def test_a_failing_command_keeps_its_status_when_the_trace_cannot_be_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, how: str, status: int
) -> None:
    output = tmp_path / "no-such-directory" / "trace.json"
    command = ["failingcommand", "--how", how]
    utility = ManagementUtility(
        ["manage.py", "signaltrace", "--output", str(output), *command]
    )

    with pytest.raises(SystemExit) as exited:
        utility.execute()

    assert exited.value.code == status
    err = capsys.readouterr().err
    said = err.index(f"Cannot write the trace to {output}")
    if how == "command-error":  # the command's own error comes first
        assert -1 < err.find("CommandError: the press is on fire") < said, err


def test_a_commands_exception_is_printed_before_the_trace_cannot_be_written(
    tmp_path: Path,
) -> None:
    # Python prints the traceback as the program ends: a real process.
    output = tmp_path / "no-such-directory" / "trace.json"
    arguments = ["signaltrace", "--output", str(output), "failingcommand"]
    ran = subprocess.run(
        [sys.executable, "-m", "django", *arguments, "--how", "exception"],
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        cwd=Path(__file__).parent.parent,
        timeout=120,
    )

    assert ran.returncode == 1
    said = ran.stderr.index(f"Cannot write the trace to {output}")
    assert -1 < ran.stderr.find("RuntimeError: the press broke down") < said


@pytest.mark.django_db
def test_a_passing_command_fails_when_the_trace_cannot_be_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    output = tmp_path / "no-such-directory" / "trace.json"
    utility = ManagementUtility(
        ["manage.py", "signaltrace", "--output", str(output), "publishbook", "Dune"]
    )

    with pytest.raises(SystemExit) as exited:
        utility.execute()

    assert exited.value.code == 1
    assert f"CommandError: Cannot write the trace to {output}" in (
        capsys.readouterr().err
    )


EVIL_NAME = "evil\x1b[2J\rname\n"
#: Control characters that must never reach the terminal raw.
RAW = ("\x1b", "\r")


def _evil_receiver() -> Callable[..., None]:
    def evil(sender: object, **kwargs: Any) -> None:
        pass

    evil.__qualname__ = EVIL_NAME
    return evil


def _raise_evil(sender: object, **kwargs: Any) -> None:
    raise ValueError("bad\x1b[2J\rmessage\nfaked line")


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("signaltrace", "--no-color", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("verbosity", ["1", "2"])
def test_control_characters_in_a_receiver_name_are_printed_escaped(
    verbosity: str,
) -> None:
    evil = _evil_receiver()
    book_published.connect(evil)
    try:
        stdout = run_command("-v", verbosity, "publishbook", "Dune")
    finally:
        book_published.disconnect(evil)

    assert not any(character in stdout for character in RAW)
    # The line break is escaped too: the receiver's duration is on its line.
    assert re.search(r"\.evil\\x1b\[2J\\rname\\n  [\d.]+ ms", stdout), stdout


@pytest.mark.django_db
@pytest.mark.parametrize("verbosity", ["1", "2"])
def test_control_characters_in_an_exception_message_are_printed_escaped(
    verbosity: str,
) -> None:
    book_published.connect(_raise_evil)
    try:
        stdout = run_command("-v", verbosity, "publishbook", "Dune", "--robust")
    finally:
        book_published.disconnect(_raise_evil)

    assert not any(character in stdout for character in RAW)
    assert "raised ValueError: bad\\x1b[2J\\rmessage\\nfaked line" in stdout
    assert not any(line.startswith("faked line") for line in stdout.splitlines())


@pytest.mark.django_db
@pytest.mark.parametrize("verbosity", ["1", "2"])
def test_control_characters_in_a_kwarg_are_printed_escaped(verbosity: str) -> None:
    stdout = run_command("-v", verbosity, "publishbook", "bad\x1b[2J\rtitle\nfaked")

    assert not any(character in stdout for character in RAW)
    assert "title=bad\\x1b[2J\\rtitle\\nfaked" in stdout
    assert not any(line.startswith("faked") for line in stdout.splitlines())


@pytest.mark.parametrize("verbosity", ["1", "2"])
def test_control_characters_in_a_kwarg_name_are_printed_escaped(verbosity: str) -> None:
    code = (
        "from django.dispatch import Signal\n"
        "signal = Signal()\n"
        "signal.connect(lambda **kwargs: None, weak=False)\n"
        "signal.send(sender=None, **{'k\\x1b[2J\\rname\\nfaked': 1})\n"
    )

    stdout = run_command("-v", verbosity, "shell", "-c", code)

    assert not any(character in stdout for character in RAW)
    assert "k\\x1b[2J\\rname\\nfaked=1" in stdout
    assert not any(line.startswith("faked") for line in stdout.splitlines())


def test_control_characters_in_a_receiver_name_are_listed_escaped() -> None:
    evil = _evil_receiver()
    book_published.connect(evil)
    try:
        stdout = run_command("--receivers", "--signal", "book_published")
    finally:
        book_published.disconnect(evil)

    assert not any(character in stdout for character in RAW)
    assert "  tests.test_security._evil_receiver.<locals>." not in stdout
    assert "  tests.test_security.evil\\x1b[2J\\rname\\n  (" in stdout


# ------------------------------------------------------------------ headers


def test_without_debug_a_response_carries_the_trace_id_but_no_viewer_url(
    client: Client, settings: Any
) -> None:
    settings.DEBUG = False
    settings.SIGNALTRACE = {"ENABLED": True}
    settings.ROOT_URLCONF = __name__  # the viewer's URLs included
    settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]

    response = client.get("/marker/one/")

    assert re.fullmatch("[0-9a-f]{32}", response.headers["X-Signaltrace-Id"])
    assert "X-Signaltrace-Url" not in response.headers


def test_a_response_carries_no_viewer_url_when_the_history_keeps_no_trace(
    client: Client, traced: Any
) -> None:
    traced.SIGNALTRACE = {"HISTORY_SIZE": 0}

    response = client.get("/marker/one/")

    assert "X-Signaltrace-Id" in response.headers
    assert "X-Signaltrace-Url" not in response.headers


@pytest.mark.usefixtures("traced")
def test_with_debug_and_the_viewer_a_response_carries_the_id_and_its_url(
    client: Client,
) -> None:
    response = client.get("/marker/one/")

    trace_id = response.headers["X-Signaltrace-Id"]
    assert response.headers["X-Signaltrace-Url"] == f"/__signaltrace__/{trace_id}/"


# --------------------------------------------------------------- truncation

#: With MAX_EVENTS at 5, a request keeps request_started and three of these
#: sends; the other seven are dropped, and request_finished takes the room
#: kept for it.
SENDS = 10
DROPPED = 7


@pytest.fixture
def truncated(traced: Any) -> Any:
    traced.SIGNALTRACE = {"MAX_EVENTS": 5}
    return traced


@pytest.mark.usefixtures("truncated")
def test_a_truncated_request_keeps_request_finished_as_its_last_event(
    client: Client,
) -> None:
    response = client.get("/large/x/", {"sends": SENDS})

    trace = response.wsgi_request.signal_trace
    assert [event.name.rpartition(".")[2] for event in trace.events] == [
        "request_started",
        "marker_sent",
        "marker_sent",
        "marker_sent",
        "request_finished",
    ]
    assert trace.dropped == DROPPED


@pytest.mark.usefixtures("truncated")
def test_the_viewer_list_says_sends_were_dropped(client: Client) -> None:
    client.get("/large/x/", {"sends": SENDS})

    page = client.get("/__signaltrace__/").content.decode()

    assert f"+{DROPPED} dropped" in page


@pytest.mark.usefixtures("truncated")
def test_the_viewer_detail_says_sends_were_dropped(client: Client) -> None:
    response = client.get("/large/x/", {"sends": SENDS})

    page = client.get(response.headers["X-Signaltrace-Url"]).content.decode()

    assert f"Truncated: {DROPPED} more sends were not stored" in page


@pytest.mark.usefixtures("truncated")
def test_the_log_record_says_sends_were_dropped(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="signaltrace")

    client.get("/large/x/", {"sends": SENDS})

    [record] = [r for r in caplog.records if r.name == "signaltrace"]
    assert record.getMessage().endswith(f" dropped={DROPPED}")


@pytest.mark.usefixtures("toolbar")
def test_the_toolbar_panel_says_sends_were_dropped(
    client: Client, settings: Any, toolbars: list[DebugToolbar]
) -> None:
    settings.SIGNALTRACE = {"MAX_EVENTS": 5}
    client.get("/large/x/", {"sends": SENDS})

    content = panel_content(toolbars[0].request_id)

    # The toolbar's own sends (template_rendered) are dropped too.
    assert re.search(r"Truncated: \d+ more sends were not stored", content)


@pytest.mark.django_db
def test_the_command_summary_says_sends_were_dropped(settings: Any) -> None:
    settings.SIGNALTRACE = {"MAX_EVENTS": 1}

    stdout = run_command("publishbook", "Dune")

    assert stdout.splitlines()[-1] == "Dropped: 1 send after MAX_EVENTS was reached"


# ---------------------------------------------------------- context hygiene


def _markers(trace: SignalTrace) -> list[object]:
    return [event.kwargs["marker"] for event in trace.filter(marker_sent)]


def test_a_thread_started_in_a_capture_records_nothing_into_it_once_it_ended() -> None:
    sent, ended = threading.Event(), threading.Event()

    def sends() -> None:
        marker_sent.send(sender=None, marker="before the end")
        sent.set()
        ended.wait(WAIT)
        marker_sent.send(sender=None, marker="after the end")
        unheard.send(sender=None)

    # The enclosing capture keeps recording: the thread's sends still go
    # through the recorder, with the ended trace in the context it copied.
    with capture() as enclosing:
        with capture() as trace:
            thread = threading.Thread(
                target=contextvars.copy_context().run, args=(sends,)
            )
            thread.start()
            sent.wait(WAIT)
        ended.set()
        thread.join(WAIT)

    assert _markers(trace) == ["before the end"]
    assert trace.counts == {}
    assert _markers(enclosing) == ["before the end", "after the end"]


@pytest.mark.usefixtures("installed")
def test_a_send_between_out_of_order_exits_is_recorded_by_the_open_capture() -> None:
    first, second = capture(), capture()
    a, b = first.__enter__(), second.__enter__()
    marker_sent.send(sender=None, marker="inside both")
    first.__exit__(None, None, None)
    marker_sent.send(sender=None, marker="between the exits")
    second.__exit__(None, None, None)

    assert _markers(a) == ["inside both"]
    assert _markers(b) == ["inside both", "between the exits"]


@pytest.mark.usefixtures("installed")
def test_a_send_after_out_of_order_exits_is_recorded_by_neither_capture() -> None:
    first, second = capture(), capture()
    a, b = first.__enter__(), second.__enter__()
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)

    marker_sent.send(sender=None, marker="after both")

    assert _markers(a) == _markers(b) == []
    assert context.active_traces() == ()


def test_a_task_started_in_a_capture_records_nothing_into_it_once_it_ended() -> None:
    async def main() -> tuple[SignalTrace, SignalTrace]:
        sent, ended = asyncio.Event(), asyncio.Event()

        async def sends() -> None:
            marker_sent.send(sender=None, marker="before the end")
            sent.set()
            await ended.wait()
            marker_sent.send(sender=None, marker="after the end")
            unheard.send(sender=None)

        async with capture() as enclosing:
            async with capture() as trace:
                task = asyncio.create_task(sends())
                await sent.wait()
            ended.set()
            await asyncio.wait_for(task, WAIT)
        return enclosing, trace

    enclosing, trace = asyncio.run(main())

    assert _markers(trace) == ["before the end"]
    assert trace.counts == {}
    assert _markers(enclosing) == ["before the end", "after the end"]


@pytest.mark.usefixtures("installed")
def test_async_captures_exited_out_of_order_unwind_in_tasks() -> None:
    async def send(marker: str) -> None:
        marker_sent.send(sender=None, marker=marker)

    async def main() -> tuple[SignalTrace, SignalTrace]:
        ended = asyncio.Event()

        async def send_late() -> None:
            await ended.wait()
            await send("late, from a task started inside both")

        first, second = capture(), capture()
        a = await first.__aenter__()
        b = await second.__aenter__()
        started_inside = asyncio.create_task(send_late())
        await asyncio.create_task(send("inside both"))
        await first.__aexit__(None, None, None)
        await asyncio.create_task(send("between the exits"))
        await second.__aexit__(None, None, None)
        await asyncio.create_task(send("after both"))
        ended.set()
        await asyncio.wait_for(started_inside, WAIT)
        return a, b

    a, b = asyncio.run(main())

    assert _markers(a) == ["inside both"]
    assert _markers(b) == ["inside both", "between the exits"]
