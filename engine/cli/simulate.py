"""`planflow simulate`: a year of plans through the real scheduler cycle; a thin edge over
`engine.demo.simulate`, which gets the deployment's log channel (kept quiet) as its `Send`, and
whose `Simulation` it prints: a table of what went out and what fired per month, then the year's
totals."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from engine.cli.output import table
from engine.core.i18n import _
from engine.core.messages import Message, Recipient
from workers.channels.log import LOGGER_NAME, LogChannel

if TYPE_CHECKING:
    from engine.demo.replay import Downtime, MonthTally, Simulation
    from engine.service.dispatch import Send

Echo = Callable[[str], object]


def _quiet_log_channel() -> LogChannel:
    """The log channel on a logger of its own that drops its lines: a year is thousands."""
    logger = logging.getLogger(f"{LOGGER_NAME}.simulated")
    logger.propagate = False
    logger.setLevel(logging.WARNING)  # the channel logs at INFO
    return LogChannel(logger)


def simulate(
    year: Annotated[int, typer.Option(min=2000, max=2100, help="The year to replay.")] = 2027,
    plans: Annotated[
        int | None,
        typer.Option(
            min=1, max=10_000, help="Plans (default: the six demo plans; more are generated)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated people's choices.")] = 0,
    downtime: Annotated[
        str | None,
        typer.Option(help="Stop the scheduler from 09:00 on MM-DD for DAYS days: MM-DD:DAYS."),
    ] = None,
) -> None:
    """Replay a year on a temporary database and a simulated clock; print what went out monthly."""
    # Imported here: it loads the whole dispatch path, which the short commands should not wait for.
    from engine.demo.replay import Downtime
    from engine.demo.simulate import DEMO_PLANS

    try:
        down = Downtime.parse(downtime, year) if downtime is not None else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--downtime") from None
    channel = _quiet_log_channel()

    def send(_channel: str, recipient: Recipient, message: Message) -> None:
        # Every delivery of the simulation goes to the log channel (its deployment default).
        channel.send(recipient, message)

    run(
        year=year,
        plans=DEMO_PLANS if plans is None else plans,
        seed=seed,
        downtime=down,
        send=send,
        echo=typer.echo,
    )


def run(
    *,
    year: int,
    plans: int,
    seed: int,
    downtime: Downtime | None,
    send: Send,
    echo: Echo = typer.echo,
) -> Simulation:
    """Replay the year on the demo's temporary database, printing as it goes; the simulation."""
    from engine.demo.simulate import simulate

    started = time.perf_counter()
    if plans == 1:
        echo(
            _(
                "Planflow simulate: 1 plan through {year} (seed {seed}), "
                "the scheduler's cycle on a simulated clock",
                year=year,
                seed=seed,
            )
        )
    else:
        echo(
            _(
                "Planflow simulate: {plans} plans through {year} (seed {seed}), "
                "the scheduler's cycle on a simulated clock",
                plans=plans,
                year=year,
                seed=seed,
            )
        )
    if downtime is not None:
        echo(
            _(
                "the scheduler is down from {start} to {end}",
                start=f"{downtime.start:%Y-%m-%d %H:%M}",
                end=f"{downtime.end:%Y-%m-%d %H:%M}",
            )
        )
    result = simulate(year=year, plans=plans, seed=seed, send=send, downtime=downtime)
    print_simulation(result, echo)
    echo(
        "\n"
        + _(
            "{cycles} cycles in {seconds:.1f} s (wall clock)",
            cycles=result.cycles,
            seconds=time.perf_counter() - started,
        )
    )
    return result


def print_simulation(result: Simulation, echo: Echo) -> None:
    """The monthly table, then what the year adds up to."""
    from engine.demo.replay import MonthTally

    headers = (
        _("month"),
        _("reminders sent"),
        _("(deliveries)"),
        _("skipped"),
        _("missed"),
        _("escalations"),
        _("timers"),
    )

    def row(label: str, t: MonthTally) -> tuple[object, ...]:
        return (label, t.reminders, t.deliveries, t.skipped, t.missed, t.escalations, t.timers)

    rows = [row(f"{result.year}-{m:02d}", result.months.get(m, MonthTally())) for m in range(1, 13)]
    total = result.total
    echo("")
    table(headers, [*rows, row(_("total"), total)], echo=echo, indent="  ")
    if total.undeliverable:
        echo("\n" + _("undeliverable (nobody held the role): {count}", count=total.undeliverable))
    for refusal in result.problems:
        echo(_("refused: plan #{plan_id}: {error}", plan_id=refusal.plan_id, error=refusal.error))
    kinds = ", ".join(f"{kind} {count}" for kind, count in result.sent_by_kind.items())
    echo("\n" + _("reminders sent by kind: {counts}", counts=kinds))
    states = ", ".join(f"{state} {n}" for state, n in sorted(result.plans_per_state.items()))
    echo("\n" + _("plans at the end of the year: {states}", states=states))
