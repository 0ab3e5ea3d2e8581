"""`python -m engine` runs the `planflow` command."""

from engine.cli.main import run

run()
