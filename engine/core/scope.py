"""Organisation scope: which plans a role holder may see and act on.

An organisation's *path* is the list of its ids from itself up to the root, e.g. a grassroots
union → its township → the county. Everything here works on paths, so the rules stay pure and the
service decides where the ids come from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from engine.core.template.model import Role, Scope


def covers(scope: Scope, holder_org: int, plan_path: Sequence[int]) -> bool:
    """Whether a holder at `holder_org` with `scope` may act on a plan of `plan_path[0]`."""
    if scope is Scope.OWN:
        return plan_path[0] == holder_org
    if scope is Scope.CHILDREN:
        return len(plan_path) > 1 and plan_path[1] == holder_org
    return holder_org in plan_path[1:]


def candidate_orgs(scope: Scope, plan_path: Sequence[int]) -> Sequence[int]:
    """Organisations whose holders of a role with `scope` could take the plan's task.

    Ordered nearest first: for `subtree` the task goes to the nearest ancestor that has a holder.
    """
    if scope is Scope.OWN:
        return plan_path[:1]
    if scope is Scope.CHILDREN:
        return plan_path[1:2]
    return plan_path[1:]


def roles_covering(
    roles: Mapping[str, Role], held: Iterable[str], holder_org: int, plan_path: Sequence[int]
) -> set[str]:
    """Of the roles a user holds, those the template declares and whose scope covers the plan."""
    return {
        name for name in held if name in roles and covers(roles[name].scope, holder_org, plan_path)
    }
