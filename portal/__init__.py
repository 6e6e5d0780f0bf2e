"""The portal: the project's settings and its ground floor.

The Celery app (`portal.celery`) is not loaded here, so that a process that never hands
work to a worker does not pay for importing Celery (`manage.py integration test` starts
in under a second). The worker and beat find it with `celery -A portal`; every other
process loads it with the first tasks module it imports, since each task is declared on
that app (`@app.task`), which is the only way work reaches the broker.
"""
