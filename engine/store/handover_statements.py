"""The statements that hand over a person's open tasks when they lose a role or are deactivated,
and that find open work left waiting on someone who can no longer act (the cycle's `stranded`).

Private to the store (`handovers.py`, `tasks.py` run them) in the write transaction of
`engine/service/leaving.py`, on the driver path like every plan write's (`statements.py`), so
none uses an expanding `IN` list.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam

from engine.core.template.model import SignMode
from engine.store.cycle_statements import HANDOVER_STEP
from engine.store.statements import table_of
from engine.store.statuses import TaskStatus
from engine.store.tables import CycleFailure, Plan, RoleGrant, Task, TaskSigner, User

_USER = table_of(User)
_GRANT = table_of(RoleGrant)
_TASK = table_of(Task)
_SIGNER = table_of(TaskSigner)
_PLAN = table_of(Plan)
_FAILURE = table_of(CycleFailure)

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
DELETE_SIGNER = sa.delete(_SIGNER).where(_SIGNER.c.id == bindparam("signer_id"))
MOVE_TASK = (
    sa.update(_TASK).where(_TASK.c.id == bindparam("task_id")).values(org_id=bindparam("to_org"))
)
USERNAME = sa.select(_USER.c.username).where(_USER.c.id == bindparam("user_id"))

# --- stranded work: what a write racing a revocation or deactivation left waiting ---------------
# Each branch is an anti-join on indexed columns over the open tasks (`task.status`), so with
# nothing stranded the cycle pays for one cheap query. Rows: (task_id, plan_id, plan_version,
# role, user_id, username, name, user_org_id, active, failed_version, waiting); a row either
# names a stranded task (with its signer, or no user: a `sign: any` task with no holder left)
# or, task_id NULL, a plan the sweep failed to hand over before (its `cycle_failure` record;
# waiting: its retry is not due at `now`).

_OPEN = sa.and_(_TASK.c.status == TaskStatus.OPEN, _PLAN.c.id == _TASK.c.plan_id)
_NO_INT = sa.cast(sa.null(), sa.Integer)
_NO_TEXT = sa.cast(sa.null(), sa.String)
_NO_BOOL = sa.cast(sa.null(), sa.Boolean)
_HOLDER = _USER.alias("holder")


def _signers_who_cannot_sign() -> sa.Select[tuple[object, ...]]:
    """Undecided signers deactivated, or without the task's role any more."""
    return (
        sa.select(
            _TASK.c.id.label("task_id"),
            _TASK.c.plan_id,
            _PLAN.c.version.label("plan_version"),
            _TASK.c.role,
            _SIGNER.c.user_id,
            _USER.c.username,
            _USER.c.name,
            _USER.c.org_id.label("user_org_id"),
            _USER.c.active,
            _NO_INT.label("failed_version"),
            _NO_BOOL.label("waiting"),
        )
        .select_from(_TASK)
        .join(_PLAN, _OPEN)
        .join(_SIGNER, _SIGNER.c.task_id == _TASK.c.id)
        .join(_USER, _USER.c.id == _SIGNER.c.user_id)
        .where(
            _SIGNER.c.decision.is_(None),
            sa.or_(
                _USER.c.active == sa.false(),
                ~sa.exists().where(
                    _GRANT.c.user_id == _SIGNER.c.user_id, _GRANT.c.role == _TASK.c.role
                ),
            ),
        )
    )


def _tasks_nobody_holds() -> sa.Select[tuple[object, ...]]:
    """Open `sign: any` tasks (a step's, an escalation's) no active holder of the role has."""
    return (
        sa.select(
            _TASK.c.id.label("task_id"),
            _TASK.c.plan_id,
            _PLAN.c.version.label("plan_version"),
            _TASK.c.role,
            _NO_INT.label("user_id"),
            _NO_TEXT.label("username"),
            _NO_TEXT.label("name"),
            _NO_INT.label("user_org_id"),
            _NO_BOOL.label("active"),
            _NO_INT.label("failed_version"),
            _NO_BOOL.label("waiting"),
        )
        .select_from(_TASK)
        .join(_PLAN, _OPEN)
        .where(
            _TASK.c.sign == SignMode.ANY,
            ~sa.exists()
            .select_from(_GRANT.join(_HOLDER, _HOLDER.c.id == _GRANT.c.user_id))
            .where(
                _GRANT.c.role == _TASK.c.role,
                _HOLDER.c.org_id == _TASK.c.org_id,
                _HOLDER.c.active == sa.true(),
            ),
        )
    )


_HANDOVER_FAILURES = (
    sa.select(
        _NO_INT.label("task_id"),
        _FAILURE.c.plan_id,
        _PLAN.c.version.label("plan_version"),
        _NO_TEXT.label("role"),
        _NO_INT.label("user_id"),
        _NO_TEXT.label("username"),
        _NO_TEXT.label("name"),
        _NO_INT.label("user_org_id"),
        _NO_BOOL.label("active"),
        _FAILURE.c.plan_version.label("failed_version"),
        (_FAILURE.c.retry_at > bindparam("now")).label("waiting"),
    )
    .join(_PLAN, _PLAN.c.id == _FAILURE.c.plan_id)
    .where(_FAILURE.c.step == HANDOVER_STEP)
)
STRANDED = sa.union_all(_signers_who_cannot_sign(), _tasks_nobody_holds(), _HANDOVER_FAILURES)
# The same, for one plan under its lock (no failure rows): what is still stranded now.
STRANDED_IN_PLAN = sa.union_all(
    _signers_who_cannot_sign().where(_TASK.c.plan_id == bindparam("plan_id")),
    _tasks_nobody_holds().where(_TASK.c.plan_id == bindparam("plan_id")),
)
