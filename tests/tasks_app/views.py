"""Views that enqueue a task, the way a project's views do."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse


def enqueue(request: HttpRequest, name: str) -> JsonResponse:
    """Enqueue the filing of *name* with Django's tasks framework."""
    from tests.tasks_app import tasks

    task = tasks.fail if request.GET.get("fail") else tasks.file_author
    result = task.enqueue(name)
    return JsonResponse({"id": str(result.id), "status": str(result.status)})


def publish(request: HttpRequest, name: str) -> JsonResponse:
    """Send the filing of *name* to Celery."""
    from tests.tasks_app import celery_app

    task = celery_app.fail if request.GET.get("fail") else celery_app.file_author
    result = task.delay(name)
    return JsonResponse({"id": result.id})
