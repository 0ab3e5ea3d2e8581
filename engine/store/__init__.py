"""Persistence: the one typed boundary between the service and the database.

The service reaches the database only through this package's public modules: keyword-only
functions over one `Transaction` per unit of work (`Database.transaction()` to write,
`Database.read()` to read), returning the typed records they define, and the vocabularies of
`statuses`. How a statement runs (the ORM, Core, or the driver's cursor) is private to the store:
the tables (`tables.py`), the statements (`statements.py` and its kin), the driver path
(`driver.py`) and the migrations. `tests/test_architecture.py` keeps it so.
"""

from engine.store.database import Database
from engine.store.driver import Transaction

__all__ = ["Database", "Transaction"]
