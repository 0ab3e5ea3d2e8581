"""The pure core: no database, Celery, Redis or APScheduler may be imported below this package.

`tests/test_architecture.py` enforces that, so everything here can be tested with plain values
and an injected clock.
"""
