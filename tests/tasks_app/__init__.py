"""Background tasks for tests/test_tasks.py and tests/test_celery.py.

The tasks of Django's tasks framework (:mod:`.tasks`), of Celery
(:mod:`.celery_app`), the views that enqueue them (:mod:`.urls`), the settings
of the worker subprocesses (:mod:`.worker_settings`) and the database they
share with the test process (:mod:`.shared`).
"""
