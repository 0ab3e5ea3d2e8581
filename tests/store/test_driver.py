"""The driver path stores and reads what the ORM does, in one transaction, with the same errors.

Plan writes run their statements on the DBAPI cursor (`engine/store/driver.py`) while everything
else goes through SQLAlchemy; both must see one database: the same stored time text, the same
transaction, SQLAlchemy's exception classes, and SQLAlchemy's cursor events.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from engine.store.database import Database
from engine.store.plans import PlanRecord
from engine.store.statements import table_of
from engine.store.tables import Organisation, Plan, TemplateRecord

_TEMPLATE = table_of(TemplateRecord)
INSERT_TEMPLATE = sa.insert(_TEMPLATE).returning(_TEMPLATE.c.id)
TEMPLATE_BY_NAME = sa.select(_TEMPLATE.c.id, _TEMPLATE.c.loaded_at).where(
    _TEMPLATE.c.name == sa.bindparam("name")
)
_ORG = table_of(Organisation)
INSERT_ORG = sa.insert(_ORG).returning(_ORG.c.id)
ORG_CODES = sa.select(_ORG.c.code).order_by(_ORG.c.code)
# 17:30 in Shanghai is 09:30 UTC: both paths must store the UTC time.
LOADED = dt.datetime(2027, 3, 8, 17, 30, 15, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def database(database_url: str) -> Any:
    db = Database(database_url)
    yield db
    db.dispose()


def template_row(name: str, loaded_at: dt.datetime) -> dict[str, Any]:
    return {
        "name": name,
        "version": 1,
        "title": name,
        "source": "",
        "checksum": "0" * 64,
        "loaded_at": loaded_at,
    }


def test_plan_record_fields_are_the_plan_tables_columns_in_order() -> None:
    # `plans.lock_plan` builds a PlanRecord from a row positionally.
    assert [f.name for f in dataclasses.fields(PlanRecord)] == [
        c.name for c in table_of(Plan).columns
    ]


def test_a_time_written_on_the_driver_reads_back_alike_through_the_orm(database: Database) -> None:
    with database.transaction() as tx:
        tx.execute(INSERT_TEMPLATE, template_row("driver", LOADED))
    with database.session() as session:
        record = session.exec(select(TemplateRecord).where(TemplateRecord.name == "driver")).one()
    assert record.loaded_at == LOADED
    assert record.loaded_at.tzinfo == dt.UTC


def test_a_time_written_through_the_orm_reads_back_alike_on_the_driver(database: Database) -> None:
    with database.session() as session:
        session.add(TemplateRecord(**template_row("orm", LOADED)))
    with database.transaction() as tx:
        row = tx.execute(TEMPLATE_BY_NAME, {"name": "orm"}).one()
    assert row.loaded_at == LOADED
    assert row.loaded_at.tzinfo == dt.UTC


def test_both_paths_store_the_same_time_text(database: Database) -> None:
    # SQLite compares the stored text: `fire_at <= :now` is only right if both store alike.
    with database.session() as session:
        session.add(TemplateRecord(**template_row("orm", LOADED)))
    with database.transaction() as tx:
        tx.execute(INSERT_TEMPLATE, template_row("driver", LOADED))
    with database.engine.connect() as connection:
        stored = connection.exec_driver_sql(
            "SELECT name, CAST(loaded_at AS TEXT) FROM workflow_template ORDER BY name"
        ).all()
    assert stored[0][1] == stored[1][1]


def test_a_naive_time_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="naive datetime"), database.transaction() as tx:
        tx.execute(INSERT_TEMPLATE, template_row("naive", dt.datetime(2027, 1, 1, 9)))


def test_the_session_and_the_statements_share_one_transaction(database: Database) -> None:
    with pytest.raises(RuntimeError, match="abandon"), database.transaction() as tx:
        tx.session.add(Organisation(code="orm-org", name="ORM"))
        tx.flush()
        tx.execute(INSERT_ORG, {"code": "driver-org", "name": "Driver", "parent_id": None})
        assert tx.execute(ORG_CODES).scalars() == ["driver-org", "orm-org"]
        raise RuntimeError("abandon the write")
    with database.session() as session:
        assert session.exec(select(Organisation)).all() == []  # neither was kept


def test_what_the_session_holds_is_committed_with_the_statements(database: Database) -> None:
    with database.transaction() as tx:
        tx.execute(INSERT_ORG, {"code": "driver-org", "name": "Driver", "parent_id": None})
        tx.session.add(Organisation(code="orm-org", name="ORM"))  # flushed by the write itself
    with Session(database.engine) as session:
        codes = sorted(o.code for o in session.exec(select(Organisation)))
    assert codes == ["driver-org", "orm-org"]


def test_a_statement_sees_what_the_session_added_without_a_flush(database: Database) -> None:
    # The Transaction flushes its session before a statement goes to the cursor: no caller has
    # to remember to.
    with database.transaction() as tx:
        tx.session.add(Organisation(code="orm-org", name="ORM"))
        assert tx.execute(ORG_CODES).scalars() == ["orm-org"]
        tx.execute(
            sa.insert(_ORG), [{"code": f"o{i}", "name": "N", "parent_id": None} for i in (1, 2)]
        )
        tx.session.add(Organisation(code="later", name="Later"))
        (together,) = tx.execute_together((ORG_CODES, {}))
        assert together.scalars() == ["later", "o1", "o2", "orm-org"]


def test_an_object_the_session_loaded_is_read_again_after_a_statement_changes_its_row(
    database: Database,
) -> None:
    # A statement's write expires what the session holds, so no stale object is believed.
    with database.transaction() as tx:
        org_id = tx.execute(INSERT_ORG, {"code": "org", "name": "Before", "parent_id": None})
        org = tx.session.get(Organisation, org_id.scalar_one())
        assert org is not None and org.name == "Before"
        tx.execute(sa.update(_ORG).where(_ORG.c.code == "org").values(name="After"))
        assert org.name == "After"


def test_a_write_without_a_session_makes_none(database: Database) -> None:
    with database.transaction() as tx:
        tx.execute(INSERT_ORG, {"code": "org", "name": "N", "parent_id": None})
        assert tx._session is None  # the actions' path pays nothing for the session's rules


def test_a_driver_error_is_raised_as_sqlalchemys_and_nothing_is_written(
    database: Database,
) -> None:
    with pytest.raises(sa.exc.IntegrityError) as raised, database.transaction() as tx:
        tx.execute(INSERT_ORG, {"code": "twice", "name": "First", "parent_id": None})
        tx.execute(INSERT_ORG, {"code": "twice", "name": "Second", "parent_id": None})
    assert "INSERT INTO organisation" in str(raised.value)
    with database.transaction() as tx:
        assert tx.execute(ORG_CODES).all() == []


def test_a_missing_parameter_is_an_error_not_a_null(database: Database) -> None:
    with pytest.raises(sa.exc.DBAPIError), database.transaction() as tx:
        tx.execute(TEMPLATE_BY_NAME, {})


def test_a_statements_own_values_are_sent_even_when_null(database: Database) -> None:
    rename = (
        sa.update(_ORG)
        .where(_ORG.c.code == sa.bindparam("of_code"))
        .values(name="Renamed", parent_id=None)
    )
    names = sa.select(_ORG.c.name, _ORG.c.parent_id).order_by(_ORG.c.code)
    with database.transaction() as tx:
        parent = tx.execute(INSERT_ORG, {"code": "a", "name": "A", "parent_id": None}).scalar()
        tx.execute(INSERT_ORG, {"code": "b", "name": "B", "parent_id": parent})
        tx.execute(rename, {"of_code": "b"})
        assert [tuple(r) for r in tx.execute(names)] == [("A", None), ("Renamed", None)]


def test_an_expanding_in_list_is_refused_with_the_reason(database: Database) -> None:
    by_codes = sa.select(_ORG.c.id).where(_ORG.c.code.in_(sa.bindparam("codes", expanding=True)))
    with pytest.raises(TypeError, match="expanding IN list"), database.transaction() as tx:
        tx.execute(by_codes, {"codes": ["a"]})


def test_executemany_and_the_result_helpers(database: Database) -> None:
    insert = sa.insert(_ORG)
    with database.transaction() as tx:
        tx.execute(insert, [{"code": c, "name": c.upper(), "parent_id": None} for c in "bca"])
        assert tx.execute(insert, []).rowcount == 0  # nothing to send: nothing sent
        rows = tx.execute(sa.select(_ORG.c.code, _ORG.c.name).order_by(_ORG.c.code))
        assert [(r.code, r.name) for r in rows] == [("a", "A"), ("b", "B"), ("c", "C")]
        assert tx.execute(ORG_CODES).first().code == "a"
        assert tx.execute(ORG_CODES).scalar() == "a"
        none = sa.select(_ORG.c.code).where(_ORG.c.code == "z")
        assert tx.execute(none).first() is None
        with pytest.raises(sa.exc.NoResultFound):
            tx.execute(none).one()


def test_cursor_events_see_the_driver_statements(database: Database) -> None:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement.split()[0])

    sa.event.listen(database.engine, "before_cursor_execute", before)
    try:
        with database.transaction() as tx:
            tx.execute(INSERT_ORG, {"code": "a", "name": "A", "parent_id": None})
            tx.execute(ORG_CODES)
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", before)
    assert seen == ["INSERT", "SELECT"]


def test_statements_run_together_give_what_each_gives_alone(database: Database) -> None:
    # (On PostgreSQL in one round trip, psycopg's pipeline; on SQLite one after the other.)
    rename = sa.update(_ORG).where(_ORG.c.code == sa.bindparam("of_code")).values(name="Renamed")
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement.split()[0])

    sa.event.listen(database.engine, "before_cursor_execute", before)
    try:
        with database.transaction() as tx:
            _, inserted, renamed, nothing, found = tx.execute_together(
                (INSERT_TEMPLATE, template_row("together", LOADED)),
                (INSERT_ORG, {"code": "a", "name": "A", "parent_id": None}),
                (rename, {"of_code": "a"}),
                (rename, {"of_code": "z"}),
                (TEMPLATE_BY_NAME, {"name": "together"}),
            )
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", before)
    assert inserted.scalar() is not None
    assert (renamed.rowcount, nothing.rowcount) == (1, 0)
    assert found.one().loaded_at == LOADED
    assert found.one().loaded_at.tzinfo == dt.UTC
    assert seen == ["INSERT", "INSERT", "UPDATE", "UPDATE", "SELECT"]
    with database.transaction() as tx:
        assert [tuple(r) for r in tx.execute(sa.select(_ORG.c.code, _ORG.c.name))] == [
            ("a", "Renamed")
        ]


def test_a_failure_among_statements_run_together_is_raised_as_sqlalchemys(
    database: Database,
) -> None:
    first = {"code": "twice", "name": "First", "parent_id": None}
    with pytest.raises(sa.exc.IntegrityError) as raised, database.transaction() as tx:
        tx.execute(INSERT_ORG, first)
        tx.execute_together(
            (INSERT_ORG, {"code": "twice", "name": "Second", "parent_id": None}),
            (INSERT_ORG, {"code": "after", "name": "After", "parent_id": None}),
        )
    assert "INSERT INTO organisation" in str(raised.value)
    with database.transaction() as tx:  # nothing was kept, and the pooled connection still works
        assert tx.execute(ORG_CODES).all() == []
