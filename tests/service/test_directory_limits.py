"""Organisations and users fit the database or are refused, on both databases: a name or an
email one character over its column is one clear refusal (PostgreSQL refused it with a traceback,
SQLite kept it), and one at the limit is stored as given."""

from __future__ import annotations

import pytest
from sqlmodel import select

from engine.core import limits
from engine.core.errors import ActionRefused
from engine.service import directory
from engine.service.runtime import Runtime
from engine.store.tables import Organisation, User


def rows(rt: Runtime, table: type[Organisation] | type[User]) -> list[object]:
    with rt.database.session() as session:
        return list(session.exec(select(table)).all())


def test_an_organisation_name_over_its_limit_is_refused(rt: Runtime) -> None:
    with pytest.raises(ActionRefused, match="the organisation's name is 201 characters long"):
        directory.create_org(rt, code="long", name="镇" * (limits.ORG_NAME + 1))
    assert rows(rt, Organisation) == []
    directory.create_org(rt, code="long", name="镇" * limits.ORG_NAME)
    [org] = rows(rt, Organisation)
    assert isinstance(org, Organisation)
    assert org.name == "镇" * limits.ORG_NAME


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "陈" * (limits.USER_NAME + 1), "the user's name is 201 characters long"),
        (
            "email",
            "e" * (limits.EMAIL - 10) + "@example.org",
            "the email address is 322 characters long",
        ),
        ("name", "陈\0静", "the user's name contains a NUL character"),
    ],
)
def test_a_user_field_that_cannot_be_stored_is_refused(
    rt: Runtime, field: str, value: str, message: str
) -> None:
    directory.create_org(rt, code="school", name="梓山中学工会")
    fields: dict[str, str | None] = {"name": "陈静", "email": None, field: value}
    with pytest.raises(ActionRefused, match=message):
        directory.create_user(
            rt, username="chen", org="school", name=fields["name"] or "", email=fields["email"]
        )
    assert rows(rt, User) == []
    name, email = "陈" * limits.USER_NAME, "e" * (limits.EMAIL - 12) + "@example.org"
    directory.create_user(rt, username="chen", org="school", name=name, email=email)
    [user] = rows(rt, User)
    assert isinstance(user, User)
    assert (user.name, user.email) == (name, email)
