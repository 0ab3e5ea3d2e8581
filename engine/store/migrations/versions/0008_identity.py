"""identity: password hashes, web sessions, API tokens, login attempts, instance secrets

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import engine.store.tables

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_TIME = engine.store.tables.UtcDateTime


def upgrade() -> None:
    # A plain ADD COLUMN (see 0007): users already stored have no password and cannot log in
    # until `planflow user passwd` sets one.
    op.add_column("app_user", sa.Column("password_hash", _TEXT(length=255), nullable=True))
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", _TEXT(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", _TEXT(length=64), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.Column("last_seen_at", _TIME(timezone=True), nullable=False),
        sa.Column("expires_at", _TIME(timezone=True), nullable=False),
        sa.Column("ended_at", _TIME(timezone=True), nullable=True),
        sa.Column("address", _TEXT(length=64), nullable=True),
        sa.Column("user_agent", _TEXT(length=300), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"], unique=False)
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", _TEXT(length=100), nullable=False),
        sa.Column("prefix", _TEXT(length=16), nullable=False),
        sa.Column("token_hash", _TEXT(length=64), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.Column("expires_at", _TIME(timezone=True), nullable=False),
        sa.Column("last_used_at", _TIME(timezone=True), nullable=True),
        sa.Column("revoked_at", _TIME(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"], unique=False)
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _TIME(timezone=True), nullable=False),
        sa.Column("username", _TEXT(length=64), nullable=False),
        sa.Column("address", _TEXT(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_attempt_username_at", "login_attempt", ["username", "at"])
    op.create_index("ix_login_attempt_address_at", "login_attempt", ["address", "at"])
    op.create_table(
        "instance_secret",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _TEXT(length=64), nullable=False),
        sa.Column("value", _TEXT(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("instance_secret")
    op.drop_index("ix_login_attempt_address_at", table_name="login_attempt")
    op.drop_index("ix_login_attempt_username_at", table_name="login_attempt")
    op.drop_table("login_attempt")
    op.drop_index(op.f("ix_api_token_user_id"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_index(op.f("ix_web_session_user_id"), table_name="web_session")
    op.drop_table("web_session")
    # Not a batch: app_user is referenced, and a batch would copy and drop it on SQLite.
    op.drop_column("app_user", "password_hash")
