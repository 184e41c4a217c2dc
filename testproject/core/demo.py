"""What ``load_demo`` creates and the home page tells visitors: the demo accounts."""

from __future__ import annotations

#: Password of every demo account (a demo on 127.0.0.1, shown on the home page).
DEMO_PASSWORD = "signaltrace"
#: The superuser: reaches the admin and the signaltrace viewer.
ADMIN_USERNAME = "ada"
#: Students of the demo course.
STUDENT_USERNAMES = ("grace", "linus")
