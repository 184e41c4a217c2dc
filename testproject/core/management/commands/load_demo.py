"""``manage.py load_demo``: the users, posts, course and products of the demo.

Everything goes through the ORM, so the demo data is created the way visitors
create theirs: the receivers run (profiles, welcome emails, enrolment log).
Running it twice changes nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction

from blog.models import Post
from core.demo import ADMIN_USERNAME, DEMO_PASSWORD, STUDENT_USERNAMES
from courses.models import Course
from shop.models import Product

#: The image of the first post: small, and needs no imaging library.
DEMO_IMAGE = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 60">
<rect width="120" height="60" rx="8" fill="#0b6e4f"/>
<text x="60" y="38" font-family="sans-serif" font-size="18" fill="#fff"
 text-anchor="middle">signal</text></svg>
"""

PRODUCTS = [
    ("Signal mug", "signal-mug", "A mug for long debugging sessions.", "12.50", 100),
    (
        "Receiver T-shirt",
        "receiver-t-shirt",
        "Connected in AppConfig.ready().",
        "20.00",
        50,
    ),
]


class Command(BaseCommand):
    help = "Create the demo's users, posts, course and products (safe to run twice)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            users = self.create_users()
            self.create_posts()
            self.create_course(users[1:])
            self.create_products()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready. Log in as {ADMIN_USERNAME!r} (or "
                f"{', '.join(repr(name) for name in STUDENT_USERNAMES)}), "
                f"password {DEMO_PASSWORD!r}."
            )
        )

    def create_users(self) -> list[Any]:
        user_model = get_user_model()
        users = []
        for username in (ADMIN_USERNAME, *STUDENT_USERNAMES):
            user = user_model.objects.filter(username=username).first()
            if user is None:
                create = (
                    user_model.objects.create_superuser
                    if username == ADMIN_USERNAME
                    else user_model.objects.create_user
                )
                user = create(
                    username=username,
                    email=f"{username}@example.com",
                    password=DEMO_PASSWORD,
                )
                self.stdout.write(f"Created user {username!r}")
            users.append(user)
        return users

    def create_posts(self) -> None:
        if Post.objects.exists():
            return
        # Lower-case titles on purpose: pre_save capitalises them.
        post = Post(
            title="signals in five minutes",
            body="post_save, pre_delete, m2m_changed: what fires when, who listens.",
        )
        post.image.save("signal.svg", ContentFile(DEMO_IMAGE), save=False)
        post.save()
        Post.objects.create(
            title="why your receiver never runs",
            body="Import signals.py from AppConfig.ready(), or it is never connected.",
        )
        self.stdout.write("Created 2 posts")

    def create_course(self, students: list[Any]) -> None:
        if Course.objects.exists():
            return
        course = Course.objects.create(title="Django signals 101")
        course.students.add(*students)
        self.stdout.write(
            f"Created course {course.title!r} with {len(students)} students"
        )

    def create_products(self) -> None:
        for name, slug, description, price, stock in PRODUCTS:
            _, created = Product.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "description": description,
                    "price": Decimal(price),
                    "stock": stock,
                },
            )
            if created:
                self.stdout.write(f"Created product {name!r}")
