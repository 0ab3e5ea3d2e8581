"""Background work: the Celery app, reminder delivery and the scheduler process (issue 3)."""
