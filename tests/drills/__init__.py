"""Fault drills: reminder dispatch on PostgreSQL with real processes, while things break.

Each drill runs the production setup — `planflow scheduler` and `celery worker` subprocesses, a
private `redis-server`, PostgreSQL, the webhook channel posting to a counting local receiver — and
breaks one part of it: two schedulers at once, a worker killed mid-batch, Redis stopped, the
scheduler down across due times, a channel that keeps failing. Each then checks, at the receiver
and in the database, that every due reminder went out exactly once per channel and recipient.
"""
