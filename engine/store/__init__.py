"""Persistence: SQLModel tables, the database adapter and the Alembic migrations."""
