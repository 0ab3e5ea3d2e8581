"""The statements that hand over a person's open tasks when they lose a role or are deactivated.

Run in the write transaction of `engine/service/leaving.py`, on the driver path like every plan
write's (`statements.py`), so none uses an expanding `IN` list.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam

from engine.core.template.model import SignMode
from engine.store.statements import table_of
from engine.store.tables import RoleGrant, Task, TaskSigner, TaskStatus, User

_USER = table_of(User)
_GRANT = table_of(RoleGrant)
_TASK = table_of(Task)
_SIGNER = table_of(TaskSigner)

DELETE_GRANT = sa.delete(_GRANT).where(
    _GRANT.c.user_id == bindparam("user_id"), _GRANT.c.role == bindparam("role")
)
DEACTIVATE_USER = sa.update(_USER).where(_USER.c.id == bindparam("user_id")).values(active=False)

# Open countersigned tasks on which the user has not decided yet: (task_id, plan_id, role).
UNDECIDED_SIGNATURES = (
    sa.select(_TASK.c.id.label("task_id"), _TASK.c.plan_id, _TASK.c.role)
    .join(_SIGNER, _SIGNER.c.task_id == _TASK.c.id)
    .where(
        _SIGNER.c.user_id == bindparam("user_id"),
        _SIGNER.c.decision.is_(None),
        _TASK.c.status == TaskStatus.OPEN,
    )
)
# Open tasks any one holder of their role at an organisation decides (the step's own and
# escalation tasks): (task_id, plan_id, role).
OPEN_ANY_TASKS_AT = sa.select(_TASK.c.id.label("task_id"), _TASK.c.plan_id, _TASK.c.role).where(
    _TASK.c.org_id == bindparam("org_id"),
    _TASK.c.status == TaskStatus.OPEN,
    _TASK.c.sign == SignMode.ANY,
)
TASK = sa.select(
    _TASK.c.id, _TASK.c.status, _TASK.c.state, _TASK.c.role, _TASK.c.org_id, _TASK.c.sign
).where(_TASK.c.id == bindparam("task_id"))
# The task's signers with their usernames, in signing order.
SIGNERS = (
    sa.select(_SIGNER.c.id, _SIGNER.c.user_id, _SIGNER.c.decision, _USER.c.username)
    .join(_USER, _USER.c.id == _SIGNER.c.user_id)
    .where(_SIGNER.c.task_id == bindparam("task_id"))
    .order_by(_SIGNER.c.position)
)
DELETE_SIGNER = sa.delete(_SIGNER).where(_SIGNER.c.id == bindparam("signer_id"))
MOVE_TASK = (
    sa.update(_TASK).where(_TASK.c.id == bindparam("task_id")).values(org_id=bindparam("to_org"))
)
USERNAME = sa.select(_USER.c.username).where(_USER.c.id == bindparam("user_id"))
