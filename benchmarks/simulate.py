"""`planflow simulate` at a few sizes: plans, cycles, seconds and peak memory of a simulated year.

    python benchmarks/simulate.py [--plans 1000,10000] [--year 2027] [--seed 0]
                                  [--profile N] [--top 30]

Each size runs in a fresh process (`planflow simulate`'s own `run`, on its temporary SQLite
database, the log channel's sends dropped), so each peak is its own: the resident high-water mark
(`ru_maxrss`) of that process. Prints, per size: plans, cycles run, wall seconds, CPU seconds
(user + system: on a shared machine the steadier figure), seconds spent creating the plans, and
the peak in MB; then how the peak grew from the smallest size to the largest (goal: flat).

`--profile N` instead runs N plans once under cProfile and prints the `--top` functions by
cumulative time, and the year's split: creating plans, the people's actions, the cycles.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _ignore(channel: str, recipient: object, message: object) -> None:
    pass


def one(plans: int, year: int, seed: int) -> dict[str, float]:
    """One simulated year in this process; its figures."""
    from engine.cli.simulate import run
    from engine.demo import simulate as simulation
    from engine.service import plans as plan_service

    creating = [0.0]
    create_plan = plan_service.create_plan

    def timed_create(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return create_plan(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            creating[0] += time.perf_counter() - started

    simulation.create_plan = timed_create  # type: ignore[assignment]
    cpu = time.process_time()
    started = time.perf_counter()
    result = run(year=year, plans=plans, seed=seed, downtime=None, send=_ignore, echo=_quiet)
    return {
        "plans": plans,
        "cycles": result.cycles,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "creating_seconds": creating[0],
        "reminders_sent": result.total.reminders,
        "deliveries": result.total.deliveries,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _quiet(line: str) -> None:
    pass


def profile(plans: int, year: int, seed: int, top: int) -> None:
    from engine.cli.simulate import run

    profiler = cProfile.Profile()
    profiler.enable()
    result = run(year=year, plans=plans, seed=seed, downtime=None, send=_ignore, echo=_quiet)
    profiler.disable()
    stats = pstats.Stats(profiler)
    print(f"{plans} plans, {result.cycles} cycles")
    parts = {
        "create_plan": "engine/service/plans.py",
        "People.act_until": "engine/demo/people.py",
        "run_cycle": "engine/service/cycle.py",
        "has_work": "engine/service/cycle.py",
        "next_work_at": "engine/service/cycle.py",
    }
    for (path, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        for label, where in parts.items():
            if path.endswith(where) and label.split(".")[-1] == name:
                print(f"  {label:<20} {row[0]:>7} calls {row[3]:8.1f} s cumulative")
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", default="1000,10000", help="sizes, comma-separated")
    parser.add_argument("--year", type=int, default=2027)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=int, default=None, metavar="N")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.year, args.seed)))
        return
    if args.profile is not None:
        profile(args.profile, args.year, args.seed, args.top)
        return
    rows = []
    for plans in (int(size) for size in args.plans.split(",")):
        command = [sys.executable, __file__, "--one", str(plans), "--year", str(args.year)]
        command += ["--seed", str(args.seed)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        row = json.loads(output.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['plans']:>6} plans  {row['cycles']:>6} cycles  {row['seconds']:7.1f} s  "
            f"(CPU {row['cpu_seconds']:.1f} s; creating plans {row['creating_seconds']:.1f} s)  "
            f"{row['reminders_sent']:>8} reminders sent  peak {row['peak_mb']:.0f} MB",
            flush=True,
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"peak memory x{last['peak_mb'] / first['peak_mb']:.2f} for "
            f"x{last['plans'] / first['plans']:.0f} plans; seconds per plan "
            f"{first['seconds'] / first['plans'] * 1000:.1f} ms -> "
            f"{last['seconds'] / last['plans'] * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
