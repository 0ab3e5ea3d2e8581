"""`planflow serve --demo`: the database of a demo server, seeded when empty, and its logins.

The demo's database is `PLANFLOW_DATABASE_URL` when set, else `planflow-demo.db` in the working
directory (not `planflow.db`, so that a demo never mixes with the tour's or a real database). It
is created or upgraded as by `planflow init`; when it holds no organisation yet it is seeded with
the demo world (`engine.demo.seed`). Either way the logins are printed before the server starts:
each demo user, their organisation and roles, and the one demo password.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from config.settings import Settings
from engine.cli.labels import titles
from engine.cli.output import table
from engine.core.i18n import _
from engine.demo.seed import DEMO_PASSWORD, DemoSeed, demo_logins, holds_demo_people, is_empty, seed
from engine.service.rehearsal import refuse_going_back, rehearsal_clock
from engine.service.runtime import Runtime, open_runtime
from engine.service.templates import get_template
from engine.store.migrate import upgrade

Echo = Callable[[str], object]
DEMO_DATABASE = "planflow-demo.db"


def demo_settings(configured: Settings) -> Settings:
    """The settings with the demo's database, unless PLANFLOW_DATABASE_URL names one."""
    if "database_url" in configured.model_fields_set:
        return configured
    url = f"sqlite:///{Path.cwd() / DEMO_DATABASE}"
    return configured.model_copy(update={"database_url": url})


def demo_runtime(configured: Settings, *, echo: Echo, address: str) -> Runtime:
    """The runtime of a demo server: migrated, seeded when empty, its logins printed."""
    settings = demo_settings(configured)
    pretended = rehearsal_clock(settings)
    rt = open_runtime(settings) if pretended is None else open_runtime(settings, clock=pretended)
    upgrade(rt.database)
    refuse_going_back(rt)
    database = rt.database.engine.url.render_as_string(hide_password=True)
    if is_empty(rt):
        print_seed(rt, seed(rt), database, echo)
    elif holds_demo_people(rt):
        echo(_("Demo database {database} already seeded; not seeded again.", database=database))
    else:
        echo(
            _(
                "The database {database} holds organisations but not the demo's people; "
                "serving it as it is.",
                database=database,
            )
        )
        return rt
    print_logins(echo, address)
    return rt


def print_seed(rt: Runtime, seeded: DemoSeed, database: str, echo: Echo) -> None:
    echo(_("Demo database {database} seeded with the demo world.", database=database))
    rows = [
        (f"#{plan.id}", plan.union, plan.drafter, _state_title(rt, plan.template, plan.state))
        for plan in seeded.plans
    ]
    echo(_("Plans for {year}:", year=seeded.year))
    table(["#", _("union"), _("drafter"), _("state")], rows, echo=echo, indent="  ")


def _state_title(rt: Runtime, template: str, state: str) -> str:
    return titles(rt, template, get_template(rt, template).version).state(state)


def print_logins(echo: Echo, address: str) -> None:
    echo(
        _(
            "Log in at {address}/login as any of these; every password is {password}",
            address=address,
            password=DEMO_PASSWORD,
        )
    )
    rows = [(u.username, u.name, u.org, ", ".join(u.roles)) for u in demo_logins()]
    table([_("username"), _("name"), _("organisation"), _("roles")], rows, echo=echo, indent="  ")
