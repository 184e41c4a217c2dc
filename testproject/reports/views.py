"""Ask for a report, and see the reports built so far."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .background import TASKS_FRAMEWORK, runs_on_a_worker
from .models import Report


def report_list(request: HttpRequest) -> HttpResponse:
    """The reports, newest first."""
    return render(
        request,
        "reports/report_list.html",
        {
            "reports": Report.objects.all()[:20],
            "has_tasks": TASKS_FRAMEWORK is not None,
            "on_a_worker": runs_on_a_worker(),
        },
    )


@require_POST
def request_report(request: HttpRequest) -> HttpResponse:
    """Create a pending report; it is built once the transaction commits."""
    with transaction.atomic():
        report = Report.objects.create()
    messages.success(
        request, f"Report {report.pk} requested and built after the commit."
    )
    return redirect("reports:report_list")
