"""Alembic migrations for the Planflow schema; run through `engine.store.migrate`."""
