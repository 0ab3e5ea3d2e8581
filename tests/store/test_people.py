"""People as the store reads them: the same record through every function, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.store.database import Database
from engine.store.people import (
    all_people,
    insert_org,
    insert_person,
    person_by_id,
    person_by_username,
    person_with_roles,
)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def test_every_read_of_a_person_gives_active_as_a_bool(database: Database) -> None:
    """SQLite's driver gives booleans as 0/1; a `Person` says True or False whoever reads it."""
    with database.transaction() as tx:
        county = insert_org(tx, code="county", name="县总工会", parent_id=None)
        assert county is not None
        chen = insert_person(tx, username="chen", name="陈静", org_id=county.id, email=None)
        assert chen is not None
    with database.read() as tx:
        with_roles = person_with_roles(tx, username="chen")
        assert with_roles is not None
        read = [
            person_by_username(tx, username="chen"),
            person_by_id(tx, user_id=chen.id),
            with_roles[0],
            all_people(tx)[0].person,
        ]
    assert all(person == chen and person.active is True for person in read), read
