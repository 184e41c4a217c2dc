"""The demo site in testproject/: each scenario of its home page fires what it says.

Every test does what a visitor does, through the test client, and checks the
signals with the package's own pytest API: the ``signal_trace`` fixture traces
the test body (sends that reached no receiver included), so the arrangement
lives in fixtures and only the visitor's action is traced.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import django
import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.contrib.auth.signals import (
    user_logged_in,
    user_logged_out,
    user_login_failed,
)
from django.core import mail
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import connections
from django.db.backends.signals import connection_created
from django.db.models.signals import (
    m2m_changed,
    post_delete,
    post_migrate,
    post_save,
    pre_delete,
    pre_save,
)
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import FailedLogin, Profile
from blog.models import Post
from blog.signals import post_liked
from core.scenarios import SCENARIOS
from courses.models import Course, Enrollment
from reports.background import HAS_TASKS
from reports.models import Report
from requestlog import log as request_log
from requestlog.receivers import finish_request, record_exception, start_request
from shop.accounting import AccountingUnavailable
from shop.cache import product_page_key
from shop.models import Order, Payment, Product
from shop.signals import order_completed, payment_completed
from signaltrace import request_scope
from signaltrace.history import history
from signaltrace.trace import Trace
from signaltrace.values import safe_kwargs
from status.signals import health_check

pytestmark = [pytest.mark.urls("testproject.urls"), pytest.mark.django_db]

User = get_user_model()
PASSWORD = "correct horse battery staple"


def get_async(async_client: AsyncClient, path: str) -> Any:
    """GET *path* through ASGI from a sync test: the view runs in an event loop."""

    async def get() -> Any:
        return await async_client.get(path)

    return async_to_sync(get)()


def receivers(event: Any) -> list[str]:
    """The dotted names of the receivers an event reached, in call order."""
    return [call.name for call in event.receivers]


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path
    settings.MEDIA_URL = "/media/"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ada() -> AbstractUser:
    return User.objects.create_user("ada", "ada@example.com", PASSWORD)


@pytest.fixture
def grace() -> AbstractUser:
    return User.objects.create_user("grace", "grace@example.com", PASSWORD)


@pytest.fixture
def post() -> Post:
    return Post.objects.create(title="A post", body="Body.")


@pytest.fixture
def post_with_image() -> Post:
    post = Post(title="With an image")
    post.image.save("signal.svg", ContentFile(b"<svg/>"), save=False)
    post.save()
    return post


@pytest.fixture
def course(ada: AbstractUser, grace: AbstractUser) -> Course:
    course = Course.objects.create(title="Django signals 101")
    course.students.add(ada, grace)
    return course


@pytest.fixture
def product() -> Product:
    return Product.objects.create(
        name="Signal mug", slug="signal-mug", price="12.50", stock=10
    )


# ---------------------------------------------------------------- home page


def test_the_home_page_lists_the_twelve_scenarios(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert len(SCENARIOS) == 12
    for scenario in SCENARIOS:
        assert escape(scenario.title) in response.content.decode()


def test_the_home_page_says_where_a_redirect_s_sends_are(client: Client) -> None:
    page = client.get("/").content.decode()

    assert "Redirected here from POST" in page


def test_the_api_command_points_at_the_site_as_it_was_reached() -> None:
    page = Client(HTTP_HOST="demo.example:8123").get("/")

    content = page.content.decode()
    assert "http://demo.example:8123/api/orders/" in content
    assert "127.0.0.1:8000" not in content


def test_every_page_the_home_page_links_to_answers() -> None:
    client = Client(raise_request_exception=False)
    for scenario in SCENARIOS:
        for _, url_name in scenario.links:
            expected = 500 if url_name == "requestlog:boom" else 200
            assert client.get(reverse(url_name)).status_code == expected, url_name


def test_no_page_has_inline_scripts_or_styles() -> None:
    """So that the site works under a strict Content Security Policy."""
    client = Client(raise_request_exception=False)
    for scenario in SCENARIOS:
        for _, url_name in scenario.links:
            content = client.get(reverse(url_name)).content.decode()
            assert "<script" not in content, url_name
            assert "<style" not in content, url_name
            assert " style=" not in content, url_name


# ------------------------------------------------------------- 1. sign-up


def sign_up(client: Client, username: str = "ada") -> Any:
    return client.post(
        reverse("accounts:signup"),
        {
            "username": username,
            "email": f"{username}@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )


def test_signup_saves_the_user_through_three_receivers_in_order(
    client: Client, signal_trace: Trace
) -> None:
    response = sign_up(client)

    assert response.status_code == 302
    event = signal_trace.assert_sent_once(post_save, sender=User, created=True)
    assert receivers(event) == [
        "accounts.receivers.create_profile",
        "accounts.receivers.send_welcome_email",
        "accounts.receivers.log_signup",
    ]
    signal_trace.assert_no_errors()


def test_signup_creates_the_profile_emails_and_logs(
    client: Client, caplog: pytest.LogCaptureFixture, mailoutbox: list[Any]
) -> None:
    with caplog.at_level("INFO", logger="accounts"):
        sign_up(client)

    assert Profile.objects.filter(user__username="ada").exists()
    (email,) = mailoutbox
    assert email.to == ["ada@example.com"]
    assert "New user signed up: ada" in caplog.messages


# ------------------------------------------------- 2. log in, log out, fail


def test_login_sends_user_logged_in_which_counts_it_on_the_profile(
    client: Client, ada: AbstractUser, signal_trace: Trace
) -> None:
    client.post(reverse("accounts:login"), {"username": "ada", "password": PASSWORD})

    signal_trace.assert_sent_once(user_logged_in, sender=User, user=ada)
    signal_trace.assert_receiver_called("accounts.receivers.count_login", count=1)
    signal_trace.assert_not_sent(user_login_failed)
    assert Profile.objects.get(user=ada).login_count == 1


def test_logout_sends_user_logged_out_which_records_the_time(
    client: Client, ada: AbstractUser, signal_trace: Trace
) -> None:
    client.force_login(ada)
    client.post(reverse("accounts:logout"))

    signal_trace.assert_sent_once(user_logged_out, sender=User, user=ada)
    signal_trace.assert_receiver_called("accounts.receivers.record_logout", count=1)
    assert Profile.objects.get(user=ada).last_logout_at is not None


def test_a_wrong_password_sends_user_login_failed_which_records_the_attempt(
    client: Client, ada: AbstractUser, signal_trace: Trace
) -> None:
    client.post(reverse("accounts:login"), {"username": "ada", "password": "wrong"})

    signal_trace.assert_sent_once(user_login_failed, credentials=ANY)
    signal_trace.assert_receiver_called(
        "accounts.receivers.record_failed_login", count=1
    )
    signal_trace.assert_not_sent(user_logged_in)
    attempt = FailedLogin.objects.get()
    assert (attempt.username, attempt.ip_address) == ("ada", "127.0.0.1")


def test_the_failed_login_credentials_are_masked_in_the_trace(
    client: Client, ada: AbstractUser, signal_trace: Trace
) -> None:
    client.post(reverse("accounts:login"), {"username": "ada", "password": "hunter2"})

    event = signal_trace.assert_sent_once(user_login_failed)
    assert safe_kwargs(event.kwargs, signal_trace.config)["credentials"] == (
        signal_trace.config.MASK
    )
    assert "hunter2" not in json.dumps(signal_trace.to_dict())


# ------------------------------------------------------------- 3. blog post


def test_publishing_a_post_capitalises_its_title_in_pre_save(
    client: Client, signal_trace: Trace
) -> None:
    client.post(reverse("blog:post_list"), {"title": "signals", "body": "Hello."})

    signal_trace.assert_order((pre_save, Post), (post_save, Post))
    event = signal_trace.assert_sent_once(pre_save, sender=Post)
    assert receivers(event) == ["blog.receivers.capitalize_title"]
    assert Post.objects.get().title == "Signals"


def test_the_like_button_sends_post_liked_which_counts_the_like(
    client: Client, post: Post, signal_trace: Trace
) -> None:
    client.post(reverse("blog:like", args=[post.pk]))

    event = signal_trace.assert_sent_once(post_liked, sender=Post, post=post, user=None)
    assert receivers(event) == ["blog.receivers.count_like"]
    post.refresh_from_db()
    assert post.likes == 1


def test_a_logged_in_reader_likes_as_themselves(
    client: Client, post: Post, ada: AbstractUser, signal_trace: Trace
) -> None:
    client.force_login(ada)
    client.post(reverse("blog:like", args=[post.pk]))

    signal_trace.assert_sent_once(post_liked, sender=Post, post=post, user=ada)


# ------------------------------------------------ 4. delete a post's image


def test_deleting_a_post_sends_pre_delete_then_post_delete(
    client: Client, post_with_image: Post, signal_trace: Trace
) -> None:
    client.post(reverse("blog:delete", args=[post_with_image.pk]))

    signal_trace.assert_order((pre_delete, Post), (post_delete, Post))
    before = signal_trace.assert_sent_once(pre_delete, sender=Post)
    after = signal_trace.assert_sent_once(post_delete, sender=Post)
    assert receivers(before) == ["blog.receivers.log_deletion"]
    assert receivers(after) == ["blog.receivers.delete_image_file"]
    assert not Post.objects.exists()


def test_post_delete_removes_the_uploaded_file(
    client: Client, post_with_image: Post
) -> None:
    path = Path(post_with_image.image.path)
    assert path.exists()

    client.post(reverse("blog:delete", args=[post_with_image.pk]))

    assert not path.exists()


# ---------------------------------------------------------- 5. enrolments


def m2m_actions(trace: Trace) -> list[str]:
    return [event.kwargs["action"] for event in trace.filter(m2m_changed)]


def test_adding_a_student_sends_pre_add_and_post_add(
    client: Client, course: Course, signal_trace: Trace
) -> None:
    linus = User.objects.create_user("linus")

    client.post(reverse("courses:add_student", args=[course.pk]), {"student": linus.pk})

    assert m2m_actions(signal_trace) == ["pre_add", "post_add"]
    event = signal_trace.assert_sent_once(
        m2m_changed,
        sender=Course.students.through,
        action="post_add",
        reverse=False,
        pk_set={linus.pk},
    )
    assert receivers(event) == ["courses.receivers.record_enrollments"]
    assert Enrollment.objects.filter(student=linus, action="joined").count() == 1


def test_removing_a_student_sends_pre_remove_and_post_remove(
    client: Client, course: Course, grace: AbstractUser, signal_trace: Trace
) -> None:
    client.post(reverse("courses:remove_student", args=[course.pk, grace.pk]))

    assert m2m_actions(signal_trace) == ["pre_remove", "post_remove"]
    signal_trace.assert_sent_once(m2m_changed, action="post_remove", pk_set={grace.pk})
    assert Enrollment.objects.filter(student=grace, action="left").count() == 1


def test_clearing_a_course_sends_pre_clear_and_post_clear(
    client: Client, course: Course, signal_trace: Trace
) -> None:
    client.post(reverse("courses:clear_students", args=[course.pk]))

    assert m2m_actions(signal_trace) == ["pre_clear", "post_clear"]
    signal_trace.assert_sent_once(m2m_changed, action="pre_clear", pk_set=None)
    assert not course.students.exists()
    assert Enrollment.objects.filter(action="cleared").count() == 2


def test_joining_from_the_user_side_sends_m2m_changed_reversed(
    client: Client, ada: AbstractUser, signal_trace: Trace
) -> None:
    course = Course.objects.create(title="Async Django")
    client.force_login(ada)

    client.post(reverse("courses:join", args=[course.pk]))

    signal_trace.assert_sent_once(
        m2m_changed, action="post_add", reverse=True, instance=ada, pk_set={course.pk}
    )
    assert Enrollment.objects.filter(course=course, student=ada).count() == 1


# ------------------------------------------------------------------ 6. shop


def buy(client: Client, product: Product, quantity: int = 2) -> Any:
    return client.post(
        reverse("shop:buy", args=[product.slug]),
        {"quantity": quantity, "email": "customer@example.com"},
    )


def test_buying_sends_order_completed_to_take_payment_then_reserve_stock(
    client: Client, product: Product, signal_trace: Trace
) -> None:
    response = buy(client, product)

    assert response.status_code == 302
    order = Order.objects.get()
    event = signal_trace.assert_sent_once(order_completed, sender=Order, order=order)
    assert receivers(event) == [
        "shop.receivers.take_payment",
        "shop.receivers.reserve_stock",
    ]
    assert order.status == Order.Status.PAID
    product.refresh_from_db()
    assert product.stock == 8


def test_payment_completed_is_sent_robustly_from_inside_take_payment(
    client: Client, product: Product, signal_trace: Trace
) -> None:
    buy(client, product)

    event = signal_trace.assert_sent_once(
        payment_completed, sender=Payment, payment=Payment.objects.get()
    )
    assert event.method == "send_robust"
    assert event.depth == 1
    assert event.parent_call is not None
    assert event.parent_call.name == "shop.receivers.take_payment"
    assert receivers(event) == [
        "shop.receivers.email_receipt",
        "shop.receivers.record_sale_in_accounting",
    ]


def test_the_accounting_error_is_swallowed_by_send_robust_but_recorded(
    client: Client, product: Product, signal_trace: Trace, mailoutbox: list[Any]
) -> None:
    response = buy(client, product)

    assert response.status_code == 302
    (failed,) = signal_trace.errors
    assert failed.name == "shop.receivers.record_sale_in_accounting"
    assert isinstance(failed.exception, AccountingUnavailable)
    with pytest.raises(AssertionError, match="send_robust caught it"):
        signal_trace.assert_no_errors()
    assert [email.subject for email in mailoutbox] == [
        f"Your receipt for order {Order.objects.get().pk}"
    ]


# ----------------------------------------------------------------- 7. cache


@pytest.fixture
def cached_product_page(client: Client, product: Product) -> str:
    """Visit the product's page, which caches part of it; return the cache key."""
    client.get(product.get_absolute_url())
    key = product_page_key(product.pk)
    assert cache.get(key) is not None
    return key


def test_saving_a_product_sends_post_save_which_clears_its_cached_page(
    client: Client, product: Product, cached_product_page: str, signal_trace: Trace
) -> None:
    client.post(
        reverse("shop:edit", args=[product.slug]),
        {"price": "9.99", "stock": 10, "description": "Now cheaper."},
    )

    event = signal_trace.assert_sent_once(
        post_save, sender=Product, instance=product, created=False
    )
    assert receivers(event) == ["shop.receivers.clear_product_page"]
    assert cache.get(cached_product_page) is None
    assert "9.99" in client.get(product.get_absolute_url()).content.decode()


def test_buying_does_not_clear_the_cached_page(
    client: Client, product: Product, cached_product_page: str, signal_trace: Trace
) -> None:
    buy(client, product)

    signal_trace.assert_receiver_not_called("shop.receivers.clear_product_page")
    assert cache.get(cached_product_page) is not None


# -------------------------------------------------------- 8. request log


@pytest.fixture
def request_logging(settings: Any) -> None:
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "requestlog.middleware.RequestLogMiddleware",
    ]


def logged(path: str) -> request_log.RequestRecord:
    """The newest finished request to *path*."""
    return next(record for record in request_log.recent() if record.path == path)


@pytest.mark.usefixtures("request_logging")
def test_request_started_and_request_finished_time_each_request(
    client: Client, signal_trace: Trace
) -> None:
    client.get(reverse("requestlog:request_list"))

    signal_trace.assert_order(request_started, request_finished)
    signal_trace.assert_receiver_called(start_request, count=1)
    signal_trace.assert_receiver_called(finish_request, count=1)
    signal_trace.assert_not_sent(got_request_exception)
    record = logged("/requests/")
    assert (record.method, record.ip_address, record.status) == (
        "GET",
        "127.0.0.1",
        200,
    )
    assert record.duration is not None


@pytest.mark.usefixtures("request_logging")
def test_a_failing_view_sends_got_request_exception(signal_trace: Trace) -> None:
    client = Client(raise_request_exception=False)

    response = client.get(reverse("requestlog:boom"))

    assert response.status_code == 500
    signal_trace.assert_order(request_started, got_request_exception, request_finished)
    signal_trace.assert_sent_once(got_request_exception, sender=None, request=ANY)
    signal_trace.assert_receiver_called(record_exception, count=1)
    record = logged("/requests/boom/")
    assert record.status == 500
    assert record.error == "DemoFailure: this view fails on purpose"


# ----------------------------------------- 9. connection_created, post_migrate


def test_a_new_connection_sends_connection_created_which_sets_pragmas(
    signal_trace: Trace,
) -> None:
    connection = connections.create_connection("default")
    try:
        connection.ensure_connection()

        event = signal_trace.assert_sent_once(
            connection_created, sender=type(connection), connection=connection
        )
        assert receivers(event) == ["core.receivers.configure_sqlite"]
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            assert cursor.fetchone()[0] == -20000
    finally:
        connection.close()


def test_the_database_page_shows_the_pragmas_and_the_default_groups(
    client: Client,
) -> None:
    content = client.get(reverse("core:database")).content.decode()

    assert "<td><code>cache_size</code></td><td>-20000</td>" in content
    assert "<strong>Editors</strong>: <code>add_post</code>" in content


@pytest.fixture
def no_groups() -> None:
    Group.objects.all().delete()


@pytest.mark.usefixtures("no_groups")
def test_migrate_sends_post_migrate_which_creates_the_default_groups(
    signal_trace: Trace,
) -> None:
    call_command("migrate", verbosity=0)

    event = signal_trace.assert_sent_once(
        post_migrate, sender=apps.get_app_config("core")
    )
    assert receivers(event)[-1] == "core.receivers.create_default_groups"
    assert "django.contrib.auth.management.create_permissions" in receivers(event)
    editors = Group.objects.get(name="Editors")
    assert sorted(editors.permissions.values_list("codename", flat=True)) == [
        "add_post",
        "change_post",
        "delete_post",
    ]


def test_migrate_leaves_existing_groups_alone() -> None:
    editors = Group.objects.get(name="Editors")
    editors.permissions.clear()

    call_command("migrate", verbosity=0)

    assert not editors.permissions.exists()


# --------------------------------------------------- 10. background work


def request_report(client: Client) -> Any:
    return client.post(reverse("reports:request_report"))


def test_the_post_save_receiver_only_schedules_the_report_build(
    client: Client,
    django_capture_on_commit_callbacks: Callable[..., Any],
    signal_trace: Trace,
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        request_report(client)

    event = signal_trace.assert_sent_once(post_save, sender=Report, created=True)
    assert receivers(event) == ["reports.receivers.schedule_build"]
    assert len(callbacks) == 1
    assert Report.objects.get().status == Report.Status.PENDING
    signal_trace.assert_not_sent(post_save, sender=Report, created=False)


def test_the_report_is_built_after_the_commit_outside_any_receiver(
    client: Client,
    django_capture_on_commit_callbacks: Callable[..., Any],
    signal_trace: Trace,
    product: Product,
) -> None:
    buy(client, product, quantity=3)

    with django_capture_on_commit_callbacks(execute=True):
        request_report(client)

    built = signal_trace.assert_sent_once(post_save, sender=Report, created=False)
    assert built.parent_call is None
    report = Report.objects.get()
    assert (report.status, report.orders, report.items) == (Report.Status.DONE, 1, 3)


@pytest.mark.skipif(not HAS_TASKS, reason="django.tasks is new in Django 6.0")
def test_the_report_is_built_by_a_task_of_djangos_tasks_framework(
    client: Client,
    django_capture_on_commit_callbacks: Callable[..., Any],
    signal_trace: Trace,
) -> None:
    from django.tasks.signals import task_enqueued, task_finished, task_started

    with django_capture_on_commit_callbacks(execute=True):
        request_report(client)

    signal_trace.assert_order(
        (post_save, Report), task_enqueued, task_started, task_finished
    )
    finished = signal_trace.assert_sent_once(task_finished)
    assert finished.live_kwargs is not None
    assert finished.live_kwargs["task_result"].task.name == "build_report"
    assert finished.live_kwargs["task_result"].status == "SUCCESSFUL"


# --------------------------------------------------------- 11. async view


@pytest.mark.skipif(django.VERSION < (5, 0), reason="asend is new in Django 5.0")
def test_the_async_status_view_awaits_asend_with_async_receivers(
    async_client: AsyncClient, signal_trace: Trace
) -> None:
    response = get_async(async_client, reverse("status:status"))

    assert response.status_code == 200
    event = signal_trace.assert_sent_once(health_check, sender=None)
    assert event.method == "asend"
    assert {call.name: call.is_async for call in event.receivers} == {
        "status.receivers.check_disk": False,
        "status.receivers.check_database": True,
        "status.receivers.check_cache": True,
    }
    signal_trace.assert_no_errors()
    content = response.content.decode()
    assert "<td>database</td>" in content
    assert "<td>cache</td>" in content


@pytest.mark.skipif(django.VERSION >= (5, 0), reason="Django 4.2 has no asend")
def test_the_async_status_view_sends_synchronously_on_django_4_2(
    async_client: AsyncClient, signal_trace: Trace
) -> None:
    response = get_async(async_client, reverse("status:status"))

    assert response.status_code == 200
    event = signal_trace.assert_sent_once(health_check, sender=None)
    assert event.method == "send"
    assert receivers(event) == ["status.receivers.check_disk"]


# ------------------------------------------------------------ 12. JSON API


def test_the_product_api_answers_json_without_html(
    client: Client, product: Product
) -> None:
    response = client.get(reverse("api:product_list"))

    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "products": [
            {
                "slug": "signal-mug",
                "name": "Signal mug",
                "price": "12.50",
                "stock": 10,
                "url": "/shop/signal-mug/",
            }
        ]
    }


def test_an_order_through_the_api_fires_the_shops_signals(
    client: Client, product: Product, signal_trace: Trace
) -> None:
    response = client.post(
        reverse("api:create_order"),
        {"product": "signal-mug", "quantity": 1},
        content_type="application/json",
    )

    assert response.status_code == 201
    assert response.json()["status"] == "paid"
    order = Order.objects.get()
    signal_trace.assert_sent_once(order_completed, sender=Order, order=order)
    signal_trace.assert_sent_once(payment_completed, sender=Payment)


def test_a_bad_api_order_fires_nothing(
    client: Client, product: Product, signal_trace: Trace
) -> None:
    response = client.post(
        reverse("api:create_order"), "not json", content_type="application/json"
    )

    assert response.status_code == 400
    signal_trace.assert_not_sent(order_completed)


@pytest.fixture
def request_tracing(settings: Any) -> Iterator[None]:
    """The signaltrace middleware, as the demo's settings enable it."""
    settings.DEBUG = True
    settings.MIDDLEWARE = [
        "signaltrace.middleware.SignalTraceMiddleware",
        *settings.MIDDLEWARE,
    ]
    yield
    request_scope.stop_request_tracing()
    history.clear()


@pytest.mark.usefixtures("request_tracing")
def test_an_api_response_links_to_its_trace_in_the_viewer(
    client: Client, product: Product
) -> None:
    response = client.post(
        reverse("api:create_order"),
        {"product": "signal-mug", "quantity": 1},
        content_type="application/json",
    )

    viewer = client.get(response["X-Signaltrace-Url"])

    assert viewer.status_code == 200
    content = viewer.content.decode()
    assert "shop.signals.order_completed" in content
    assert "shop.receivers.record_sale_in_accounting" in content


# ------------------------------------------------------------- demo data


def test_load_demo_creates_the_demo_through_the_receivers(signal_trace: Trace) -> None:
    call_command("load_demo", stdout=io.StringIO())

    signal_trace.assert_sent(post_save, sender=User, created=True, count=3)
    assert Profile.objects.count() == 3
    assert len(mail.outbox) == 3
    assert Enrollment.objects.filter(action="joined").count() == 2
    assert Post.objects.get(title__startswith="Signals").image
    assert Product.objects.count() == 2


def test_load_demo_twice_creates_nothing_more(signal_trace: Trace) -> None:
    call_command("load_demo", stdout=io.StringIO())
    call_command("load_demo", stdout=io.StringIO())

    signal_trace.assert_sent(post_save, sender=User, created=True, count=3)
    assert Post.objects.count() == 2
