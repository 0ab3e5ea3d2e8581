"""Bad input at the command line: one line, exit 1, nothing written, nothing silently dropped.

Scores, goal actuals, edit files, `plan list --state`, `template diagram --plan`, settings and a
missing database. Plans are moved along through the service layer (with a simulated clock, so
the year-end steps can be reached) on the same SQLite file the command uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import get_settings
from engine.core.clock import SimulatedClock
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from tests.cli.conftest import Cli, Outcome
from tests.conftest import START, make_runtime
from tests.service.test_input_checks import in_assessment, in_self_evaluation
from tests.world import setup_world, small_plan

APPROVER, DRAFTER, REVIEWER = "wang-county", "chen-school", "zhao-zishan"


@pytest.fixture
def cli_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def world(cli: Cli, cli_database_url: str, clock: SimulatedClock) -> Iterator[Runtime]:
    """The demo world on the command's database, for moving plans along."""
    assert cli("init").code == 0
    rt = make_runtime(cli_database_url, clock)
    setup_world(rt)
    yield rt
    rt.database.dispose()


def rehearse_at(monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock) -> None:
    """The command runs at the simulated moment the plans were moved to (the year end), as a
    rehearsal does: the real clock is behind their logs, and a write then would be refused."""
    monkeypatch.setenv("PLANFLOW_REHEARSAL_TIME", clock().isoformat())
    get_settings.cache_clear()


def one_error(result: Outcome) -> str:
    assert result.code == 1, result
    assert result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    return result.err


def state_of(cli: Cli, plan_id: int) -> tuple[str, int]:
    shown = json.loads(cli("plan", "show", plan_id, "--as", APPROVER, "--json").out)
    return shown["state"], shown["version"]


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ("150", "'assess' needs a score from 0 to 100, got 150"),
        ("-5", "'assess' needs a score from 0 to 100, got -5"),
        ("nan", "the score must be a finite number, got nan"),
    ],
)
def test_a_score_outside_the_range_is_refused_and_closes_nothing(
    cli: Cli,
    world: Runtime,
    clock: SimulatedClock,
    monkeypatch: pytest.MonkeyPatch,
    score: str,
    message: str,
) -> None:
    plan_id = in_assessment(world, clock)
    rehearse_at(monkeypatch, clock)
    before = state_of(cli, plan_id)
    result = cli("act", plan_id, "assess", "--as", APPROVER, "--comment", "好", "--score", score)
    assert one_error(result) == f"error: {message}\n"
    assert state_of(cli, plan_id) == before == ("county_assessment", before[1])
    closed = cli("act", plan_id, "assess", "--as", APPROVER, "--comment", "好", "--score", "88.5")
    assert closed.code == 0, closed.err
    assert json.loads(cli("plan", "show", plan_id, "--as", APPROVER, "--json").out)[
        "assessment"
    ] == {"score": 88.5, "comment": "好"}


def test_a_score_on_approve_is_refused(cli: Cli, world: Runtime) -> None:
    plan_id = create_plan(world, spec=small_plan(), actor=DRAFTER).plan_id
    assert cli("act", plan_id, "submit", "--as", DRAFTER).code == 0
    result = cli("act", plan_id, "approve", "--as", REVIEWER, "--score", "90")
    assert one_error(result) == "error: 'approve' takes no score; leave out --score\n"
    assert state_of(cli, plan_id)[0] == "township_review"


def test_goal_actuals_must_be_finite_and_not_negative(
    cli: Cli, world: Runtime, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_id = in_self_evaluation(world, clock)
    rehearse_at(monkeypatch, clock)
    for actual, words in (("-5", "must not be negative, got -5"), ("nan", "a finite number")):
        result = cli("report", "goal", plan_id, "goal-1", actual, "--as", DRAFTER)
        assert words in one_error(result)
    assert cli("report", "goal", plan_id, "goal-1", "0", "--as", DRAFTER).code == 0


def test_plan_show_says_which_goals_allow_negative_actuals(
    cli: Cli, world: Runtime, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "org: zishan-middle-school\nyear: 2027\ntitle: 计划\ntemplate: annual-work-plan\n"
        "goals:\n"
        "  - {key: members, title: 发展新会员, target: 30, unit: 人}\n"
        "  - {key: surplus, title: 经费结余变化, target: -2, unit: 万元, allow_negative: true}\n"
        "items: [{month: 1, title: 活动}]\n",
        encoding="utf-8",
    )
    assert cli("plan", "create", "--file", plan, "--as", DRAFTER).code == 0
    shown = json.loads(cli("plan", "show", "1", "--as", DRAFTER, "--json").out)
    assert [(g["key"], g["target"], g["allow_negative"]) for g in shown["goals"]] == [
        ("members", 30, False),
        ("surplus", -2, True),
    ]
    text = cli("plan", "show", "1", "--as", DRAFTER).out
    [members] = [line for line in text.splitlines() if line.startswith("members")]
    [surplus] = [line for line in text.splitlines() if line.startswith("surplus")]
    assert ">= 30 人" in members and "negative" not in members
    assert ">= -2 万元 (negative allowed)" in surplus


def test_an_edit_file_with_another_org_is_refused(cli: Cli, world: Runtime, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "org: zishan-middle-school\nyear: 2027\ntitle: 计划\ntemplate: annual-work-plan\n"
        "goals: [{key: g, title: 目标, target: 1, unit: 人}]\nitems: [{month: 1, title: 活动}]\n",
        encoding="utf-8",
    )
    assert cli("plan", "create", "--file", plan, "--as", DRAFTER).code == 0
    moved = tmp_path / "moved.yaml"
    moved.write_text(
        plan.read_text(encoding="utf-8").replace("zishan-middle-school", "zishan-bike-factory"),
        encoding="utf-8",
    )
    err = one_error(cli("plan", "edit", "1", "--file", moved, "--as", DRAFTER))
    assert "org 'zishan-bike-factory' (the plan's is 'zishan-middle-school')" in err
    assert state_of(cli, 1) == ("draft", 1)


def test_plan_list_takes_a_state_name_or_title_and_refuses_others(cli: Cli, world: Runtime) -> None:
    create_plan(world, spec=small_plan(), actor=DRAFTER)
    for state in ("draft", "草稿"):
        listed = cli("plan", "list", "--as", APPROVER, "--state", state, "--json")
        assert [p["id"] for p in json.loads(listed.out)] == [1], listed.err
    err = one_error(cli("plan", "list", "--as", APPROVER, "--state", "bogus"))
    assert err.startswith("error: no state 'bogus' in the loaded templates; states: draft, ")
    assert "did you mean 'draft'?" in one_error(
        cli("plan", "list", "--as", APPROVER, "--state", "drafts")
    )


def test_template_diagram_of_a_plan_on_another_template_is_refused(
    cli: Cli, world: Runtime
) -> None:
    create_plan(world, spec=small_plan(), actor=DRAFTER)
    err = one_error(
        cli("template", "diagram", "township-annual-plan", "--plan", "1", "--as", DRAFTER)
    )
    assert err == (
        "error: plan #1 runs on annual-work-plan version 1, not township-annual-plan; "
        "name its template or leave out --plan\n"
    )
    err = one_error(
        cli(
            "template",
            "diagram",
            "annual-work-plan",
            "--version",
            "2",
            "--plan",
            "1",
            "--as",
            DRAFTER,
        )
    )
    assert "plan #1 runs on annual-work-plan version 1, not version 2" in err
    drawn = cli("template", "diagram", "annual-work-plan", "--plan", "1", "--as", DRAFTER)
    assert drawn.code == 0 and "class draft current" in drawn.out


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "PLANFLOW_TIMEZONE",
            "Asia/Beijing",
            "PLANFLOW_TIMEZONE='Asia/Beijing': not a known time zone "
            "(expected an IANA name such as Asia/Shanghai)",
        ),
        (
            "PLANFLOW_EXTRA_WORKDAYS",
            "2027-02-20",
            "PLANFLOW_EXTRA_WORKDAYS='2027-02-20': not JSON "
            '(expected a JSON list of ISO dates, such as ["2027-02-20"])',
        ),
        (
            "PLANFLOW_EXTRA_HOLIDAYS",
            '["2027-02-30"]',
            "PLANFLOW_EXTRA_HOLIDAYS='[\"2027-02-30\"]': item 1: not a date "
            '(expected a JSON list of ISO dates, such as ["2027-02-20"])',
        ),
        (
            "PLANFLOW_ROLE_CHANNELS",
            '{"county_approver": "email"}',
            'PLANFLOW_ROLE_CHANNELS=\'{"county_approver": "email"}\': county_approver: '
            "not a list (expected a JSON mapping of role to channels, such as "
            '{"township_reviewer": ["email", "webhook"]})',
        ),
        (
            "PLANFLOW_SWEEP_INTERVAL_SECONDS",
            "inf",
            "PLANFLOW_SWEEP_INTERVAL_SECONDS='inf': input should be a finite number",
        ),
        (
            "PLANFLOW_SCHEDULER_MISFIRE_GRACE_HOURS",
            "nan",
            "PLANFLOW_SCHEDULER_MISFIRE_GRACE_HOURS='nan': input should be a finite number",
        ),
        (
            "PLANFLOW_CATCHUP_WINDOW_DAYS",
            "-1",
            "PLANFLOW_CATCHUP_WINDOW_DAYS='-1': input should be greater than or equal to 0",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_variable_value_and_form(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    for command in (("plan", "list", "--as", DRAFTER), ("init",), ("scheduler",)):
        assert one_error(cli(*command)) == f"error: {message}\n"


def test_a_rule_across_settings_is_one_line_too(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANFLOW_DEFAULT_CHANNELS", '["webhook"]')
    monkeypatch.setenv("PLANFLOW_DELIVERY_LEASE_SECONDS", "5")
    get_settings.cache_clear()
    for command in (("plan", "list", "--as", DRAFTER), ("scheduler",)):
        assert one_error(cli(*command)).startswith(
            "error: PLANFLOW_DELIVERY_LEASE_SECONDS (5) is shorter than one webhook send can take"
        )


def test_a_misspelt_setting_is_refused_not_ignored(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANFLOW_TIMEZOEN", "Asia/Urumqi")
    get_settings.cache_clear()
    assert one_error(cli("plan", "list", "--as", DRAFTER)) == (
        "error: PLANFLOW_TIMEZOEN is not a Planflow setting; did you mean 'PLANFLOW_TIMEZONE'?\n"
    )


def test_every_list_and_mapping_setting_says_it_is_json() -> None:
    from config.settings import Settings

    for name, field in Settings.model_fields.items():
        if getattr(field.annotation, "__origin__", None) in (list, dict):
            assert "JSON" in (field.description or ""), name


def test_a_command_without_a_database_says_run_init_and_creates_nothing(
    cli: Cli, cli_database_url: str
) -> None:
    path = Path(cli_database_url.removeprefix("sqlite:///"))
    for command in (("plan", "list", "--as", DRAFTER), ("template", "list"), ("scheduler",)):
        err = one_error(cli(*command))
        assert err == f"error: no database at {path}; run `planflow init` to create it\n"
        assert not path.exists()
    assert cli("init").code == 0 and path.exists()


def test_a_missing_postgresql_database_says_so(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/planflow_no_such_database"
    monkeypatch.setenv("PLANFLOW_DATABASE_URL", url)
    get_settings.cache_clear()
    err = one_error(cli("plan", "list", "--as", DRAFTER))
    assert "the database 'planflow_no_such_database' does not exist" in err
    assert "then run `planflow init`" in err
