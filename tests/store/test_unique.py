"""A taken unique key is answered as None, and the transaction goes on (`store/unique.py`).

The insert runs in a savepoint: without it PostgreSQL aborts the whole transaction at the
refusal, and nothing after it (the service's own error, or a caller that carries on) could run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from engine.store.database import Database
from engine.store.people import all_orgs, all_people, insert_grant, insert_org, insert_person
from engine.store.templates import insert_template, template_by_name

AT = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def test_a_taken_key_is_none_and_the_transaction_goes_on(database: Database) -> None:
    with database.transaction() as tx:
        county = insert_org(tx, code="county", name="县总工会", parent_id=None)
        assert county is not None
        assert insert_org(tx, code="county", name="又一个", parent_id=None) is None
        chen = insert_person(tx, username="chen", name="陈静", org_id=county.id, email=None)
        assert chen is not None
        assert insert_person(tx, username="chen", name="陈", org_id=county.id, email=None) is None
        assert insert_grant(tx, user_id=chen.id, role="drafter", at=AT) is not None
        assert insert_grant(tx, user_id=chen.id, role="drafter", at=AT) is None
        template: dict[str, Any] = {
            "name": "t",
            "version": 1,
            "title": "T",
            "source": "",
            "checksum": "0" * 64,
        }
        assert insert_template(tx, **template, loaded_at=AT) is not None
        assert insert_template(tx, **template, loaded_at=AT) is None
    with database.read() as tx:
        assert [org.code for org in all_orgs(tx)] == ["county"]
        [(person, org, roles)] = all_people(tx)
        assert (person, org.code, roles) == (chen, "county", ("drafter",))
        stored = template_by_name(tx, name="t")
        assert stored is not None and stored.loaded_at == AT


def test_a_refusal_by_anything_but_the_key_is_raised(database: Database) -> None:
    """Only the named unique key means "taken": a missing organisation is not a taken username."""
    with pytest.raises(sa.exc.IntegrityError), database.transaction() as tx:
        insert_person(tx, username="chen", name="陈静", org_id=999, email=None)
