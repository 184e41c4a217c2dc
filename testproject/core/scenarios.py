"""The twelve scenarios the home page lists: where to go and what to look for."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Scenario:
    """One thing to try on the site.

    Attributes:
        title: what the visitor does.
        links: ``(label, URL name)`` pairs of the pages where it happens.
        look_for: one sentence on what the trace shows.
        command: a command to run in a terminal for this scenario, if any;
            ``{site}`` stands for the site's address as the browser reached it
            (see :meth:`for_site`).
    """

    title: str
    links: tuple[tuple[str, str], ...]
    look_for: str
    command: str = ""

    def for_site(self, site: str) -> Scenario:
        """This scenario with its command pointing at *site* (``http://host:port``)."""
        return replace(self, command=self.command.replace("{site}", site))


SCENARIOS = (
    Scenario(
        "Sign up",
        (("Sign-up form", "accounts:signup"),),
        "post_save of User reaches three receivers in the order ready() connected "
        "them: create_profile, send_welcome_email (the email is printed in the "
        "terminal) and log_signup.",
    ),
    Scenario(
        "Log in, log out, and fail to log in",
        (("Log in", "accounts:login"), ("Your profile", "accounts:profile")),
        "user_logged_in counts the login on the profile, user_logged_out follows "
        "the Log out button, and a wrong password sends user_login_failed whose "
        "credentials argument shows masked.",
    ),
    Scenario(
        "Write and like a blog post",
        (("Blog", "blog:post_list"),),
        "pre_save capitalises the title before post_save; the Like button sends "
        "the project's own blog.signals.post_liked.",
    ),
    Scenario(
        "Delete a post that has an image",
        (("Blog", "blog:post_list"),),
        "Delete sends pre_delete, then post_delete, whose receiver removes the "
        "uploaded file from the media folder.",
    ),
    Scenario(
        "Join and leave a course",
        (("Courses", "courses:course_list"),),
        "m2m_changed fires twice per change (pre_add/post_add, pre_remove/"
        "post_remove, pre_clear/post_clear) and one receiver writes the "
        "enrolment log.",
    ),
    Scenario(
        "Buy a product",
        (("Shop", "shop:product_list"),),
        "order_completed's take_payment sends payment_completed from inside "
        "itself (nested one level), reserve_stock is flagged slow, and the "
        "accounting receiver's error, swallowed by send_robust, is shown.",
    ),
    Scenario(
        "Change a product's price",
        (("Shop", "shop:product_list"),),
        "On a product's page, saving the form sends post_save, whose "
        "clear_product_page receiver drops the cached part of the page: its "
        '"rendered at" time changes.',
    ),
    Scenario(
        "Log requests, and fail one",
        (
            ("Request log", "requestlog:request_list"),
            ("A failing view", "requestlog:boom"),
        ),
        "request_started and request_finished frame every request (their "
        "receivers time it); the failing view adds got_request_exception.",
    ),
    Scenario(
        "Connect to the database, migrate",
        (("Database", "core:database"),),
        "connection_created fires when a request opens its connection and sets "
        "SQLite pragmas; tracing migrate shows post_migrate creating the default "
        "groups.",
        "cd testproject && ../.venv/bin/python manage.py signaltrace migrate",
    ),
    Scenario(
        "Build a report in the background",
        (("Reports", "reports:report_list"),),
        "post_save's receiver only schedules the build with transaction.on_commit; "
        "the build runs after the commit (on Django 6, as a task between "
        "task_started and task_finished).",
    ),
    Scenario(
        "Check the system's health asynchronously",
        (("Status", "status:status"),),
        "An async view awaits asend: the async receivers are marked async and "
        "overlap in time, the sync one runs in a thread.",
    ),
    Scenario(
        "Call a JSON API",
        (("Products (JSON)", "api:product_list"),),
        "No HTML for a toolbar to live in: the signaltrace viewer lists the "
        "request, and the X-Signaltrace-Url header links to its trace; placing "
        "an order through the API fires the shop's signals.",
        "curl -i -X POST -H 'Content-Type: application/json' "
        """-d '{"product": "signal-mug", "quantity": 1}' """
        "{site}/api/orders/",
    ),
)
