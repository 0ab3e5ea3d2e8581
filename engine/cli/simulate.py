"""`planflow simulate`: a year of plans through the real scheduler cycle; a thin edge over
`engine.demo.simulate`, which gets the deployment's log channel (kept quiet) as its `Send`."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from engine.core.messages import Message, Recipient
from workers.channels.log import LOGGER_NAME, LogChannel


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
    from engine.demo.simulate import DEMO_PLANS, Downtime
    from engine.demo.simulate import simulate as run_simulation

    try:
        down = Downtime.parse(downtime, year) if downtime is not None else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--downtime") from None
    channel = _quiet_log_channel()

    def send(_channel: str, recipient: Recipient, message: Message) -> None:
        # Every delivery of the simulation goes to the log channel (its deployment default).
        channel.send(recipient, message)

    run_simulation(
        year=year,
        plans=DEMO_PLANS if plans is None else plans,
        seed=seed,
        downtime=down,
        send=send,
        echo=typer.echo,
    )
