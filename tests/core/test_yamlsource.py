"""The located, safe YAML loader and the pydantic → located problems helper."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import pytest
from pydantic import AfterValidator, Field

from engine.core.errors import InputError, PlanFileError, Problem
from engine.core.yamlschema import (
    Describer,
    DocModel,
    Text,
    between,
    did_you_mean,
    show,
    suggestion,
    validate,
)
from engine.core.yamlsource import (
    MAX_BYTES,
    MAX_VALUES,
    LoadedYaml,
    Location,
    load_yaml,
    load_yaml_file,
)


def load(
    text: str | bytes, *, max_bytes: int = MAX_BYTES, max_values: int = MAX_VALUES
) -> LoadedYaml:
    return load_yaml(text, source="f.yaml", max_bytes=max_bytes, max_values=max_values)


def fatal(text: str | bytes, *, max_bytes: int = MAX_BYTES, max_values: int = MAX_VALUES) -> str:
    """The one message of a file that cannot be read at all."""
    with pytest.raises(InputError) as caught:
        load(text, max_bytes=max_bytes, max_values=max_values)
    assert len(caught.value.problems) == 1
    return str(caught.value.problems[0])


# --------------------------------------------------------------------------- scalar policy


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("on", "on"),  # YAML 1.1 would make these booleans; for us they are words
        ("off", "off"),
        ("yes", "yes"),
        ("No", "No"),
        ("y", "y"),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("7", 7),
        ("-3", -3),
        ("08", 8),  # never octal
        ("012", 12),
        ("0x1F", 31),
        ("0o17", 15),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("9:30", "9:30"),  # never base 60
        ("2025-03-01", "2025-03-01"),  # never a date
        ("12-01", "12-01"),
        ("7d", "7d"),
        ("~", None),
        ("null", None),
        ("", None),
        ('"7"', "7"),
        ("'true'", "true"),
        ("!!str 7", "7"),
        ("!!int '7'", 7),
        ("=", "="),
        ("<=", "<="),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(written: str, value: Any) -> None:
    assert load(f"key: {written}\n").data == {"key": value}


def test_special_floats() -> None:
    data = load("a: .inf\nb: -.Inf\nc: .nan\n").data
    assert data["a"] == math.inf and data["b"] == -math.inf and math.isnan(data["c"])


def test_keys_are_the_text_as_written() -> None:
    assert load("1: a\ntrue: b\non: c\n").data == {"1": "a", "true": "b", "on": "c"}


def test_flow_and_block_collections_and_aliases_build_plain_values() -> None:
    text = "roles: &r [drafter, reviewer]\nagain: *r\nnested: {a: [1, {b: 2}]}\n"
    assert load(text).data == {
        "roles": ["drafter", "reviewer"],
        "again": ["drafter", "reviewer"],
        "nested": {"a": [1, {"b": 2}]},
    }


# --------------------------------------------------------------------------- locations


TEXT = """\
name: plan
states:
  draft:
    title: 草稿
  review: {title: 审核, task: {role: reviewer}}
transitions:
  - {trigger: submit, from: [draft, review]}
"""


def test_every_value_and_key_is_located() -> None:
    loaded = load(TEXT)
    assert loaded.where(()) == Location(1, 1)
    assert loaded.where(("name",)) == Location(1, 7)
    assert loaded.where_key(("name",)) == Location(1, 1)
    assert loaded.where(("states", "draft")) == Location(4, 5)  # a block mapping starts at its key
    assert loaded.where_key(("states", "draft")) == Location(3, 3)
    assert loaded.where(("states", "draft", "title")) == Location(4, 12)
    assert loaded.where(("states", "review", "task", "role")) == Location(5, 36)
    assert loaded.where(("transitions", 0)) == Location(7, 5)
    assert loaded.where(("transitions", 0, "from", 1)) == Location(7, 37)


def test_where_falls_back_to_the_nearest_located_ancestor() -> None:
    loaded = load(TEXT)
    assert loaded.where(("states", "draft", "task", "due")) == Location(4, 5)
    assert loaded.where_key(("states", "draft", "task")) == Location(4, 5)
    assert loaded.where(("nowhere", 3)) == Location(1, 1)


def test_get_walks_the_data_and_answers_none_where_the_path_leads_nowhere() -> None:
    loaded = load(TEXT)
    assert loaded.get(("transitions", 0, "from", 1)) == "review"
    assert loaded.get(("transitions", 5)) is None
    assert loaded.get(("name", "x")) is None


def test_problem_points_at_the_value_or_the_key() -> None:
    loaded = load(TEXT)
    assert loaded.problem(("name",), "m") == Problem("f.yaml", 1, 7, "m")
    assert loaded.problem(("name",), "m", at_key=True) == Problem("f.yaml", 1, 1, "m")


def test_columns_count_characters_not_bytes() -> None:
    assert load("标题: 草稿\n键: x\n").where(("键",)) == Location(2, 4)


# --------------------------------------------------------------------------- non-fatal problems


def test_duplicate_keys_are_reported_with_the_first_place_and_the_first_value_kept() -> None:
    loaded = load("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    assert loaded.data == {"a": 1, "b": {"c": 1}}
    assert [str(p) for p in loaded.problems] == [
        "f.yaml:4:3: duplicate key 'c' (first written at line 3, column 3)",
        "f.yaml:5:1: duplicate key 'a' (first written at line 1, column 1)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "x: !!python/object/apply:os.system [ls]\n",
            "1:4: tags that build objects are not allowed: !!python/object/apply:os.system",
        ),
        (
            "x: !!python/name:os.system\n",
            "1:4: tags that build objects are not allowed: !!python/name:os.system",
        ),
        ("x: !!binary aGk=\n", "1:4: tags that build objects are not allowed: !!binary"),
        ("x: !!set {a}\n", "1:4: tags that build objects are not allowed: !!set"),
        (
            "x: !!timestamp 2025-01-01\n",
            "1:4: tags that build objects are not allowed: !!timestamp",
        ),
        ("x: !Ref role\n", "1:4: tags that build objects are not allowed: !Ref"),
        ("x: !!int abc\n", "1:4: cannot read 'abc' as !!int"),
        ("x: !!bool yes\n", "1:4: cannot read 'yes' as !!bool"),
    ],
)
def test_tags_beyond_the_core_ones_are_refused_and_the_value_is_unreadable(
    text: str, message: str
) -> None:
    loaded = load(text)
    assert [str(p) for p in loaded.problems] == [f"f.yaml:{message}"]
    assert loaded.data == {"x": None}
    assert loaded.is_unreadable(("x",))
    assert loaded.is_unreadable(("x", "deeper", 0))
    assert not loaded.is_unreadable(("y",))


def test_keys_must_be_plain_and_merge_keys_are_refused() -> None:
    loaded = load(
        "? [a, b]\n: 1\nbase: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n!!python/name:os.system : 3\n"
    )
    assert loaded.data == {"base": {"x": 1}, "use": {"y": 2}}
    assert [str(p) for p in loaded.problems] == [
        "f.yaml:1:3: a key must be a plain name, not a list or mapping",
        "f.yaml:5:3: merge keys ('<<') are not supported; write the keys out",
        "f.yaml:7:1: tags that build objects are not allowed: !!python/name:os.system",
    ]


def test_messages_stay_on_one_line() -> None:
    loaded = load('"a\\nb": 1\n"a\\nb": 2\n')
    assert [p.message for p in loaded.problems] == [
        "duplicate key 'a\\nb' (first written at line 1, column 1)"
    ]


def test_a_quoted_merge_key_is_just_a_key() -> None:
    assert load("'<<': 1\n").data == {"<<": 1}


# --------------------------------------------------------------------------- fatal problems


def test_alias_bomb_is_refused_before_building() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    message = fatal("\n".join(lines) + "\n")
    assert message == (
        "f.yaml:5:5: more than 100000 values once aliases are expanded; "
        "is this an alias bomb (billion laughs)?"
    )


def test_the_value_limit_is_a_parameter() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"
    assert load(text, max_values=20).data["b"] == [[1, 2, 3]] * 3
    assert fatal(text, max_values=10).startswith("f.yaml:2:4: more than 10 values")


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert (
        fatal("a: &a [1, *a]\n") == "f.yaml:1:4: an alias here refers to the value that contains it"
    )


def test_files_over_the_size_limit_are_refused_unread() -> None:
    assert fatal(b"a: " + b"x" * 100, max_bytes=100) == (
        "f.yaml: the file is larger than the limit of 100 bytes"
    )
    assert fatal("a: b\n" * 300_000) == "f.yaml: the file is larger than the limit of 1 MiB"
    assert load(b"a: " + b"x" * 97, max_bytes=100).data == {"a": "x" * 97}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"a: 1\nb: \x00\x01",
            "binary data: NUL byte at byte offset 8; save the file as UTF-8 text",
        ),
        (
            "a: 1".encode("utf-16"),
            "binary data: NUL byte at byte offset 3; save the file as UTF-8 text",
        ),
        (
            b"a: caf\xe9\n",
            "not UTF-8 text: invalid byte 0xe9 at byte offset 6; save the file as UTF-8",
        ),
        (
            b"\x89PNG\r\n",
            "not UTF-8 text: invalid byte 0x89 at byte offset 0; save the file as UTF-8",
        ),
    ],
)
def test_binary_and_non_utf8_files_say_which_byte(raw: bytes, message: str) -> None:
    assert fatal(raw) == f"f.yaml: {message}"


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    loaded = load("\ufeffa: 1\n".encode())
    assert loaded.data == {"a": 1}
    assert loaded.where(("a",)) == Location(1, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: b: c\n", "1:5: YAML syntax: mapping values are not allowed here"),
        ("a:\n\tb: 1\n", "2:1: YAML syntax: tab character; indent with spaces, not tabs"),
        (
            "a:\n  b: 1\n c: 2\n",
            "3:2: YAML syntax: bad indentation; this line does not line up with its block",
        ),
        ("a: [1, 2\n", "2:1: YAML syntax: expected ',' or ']', but got the end of the file"),
        ('a: "x\nb: 1\n', "1:4: YAML syntax: this quoted value is never closed"),
        (
            "c: >=\n",
            "1:4: YAML syntax: a value starting with '>' or '|' must be quoted, e.g. \">=\"",
        ),
        ("a: *nowhere\n", "1:4: YAML syntax: alias *nowhere has no anchor &nowhere before it"),
        ("a: 1\nb: \x07\n", "2:4: YAML syntax: control character U+0007 is not allowed"),
        ("a: 1\n---\nb: 2\n", "2:1: more than one YAML document ('---'); a file holds exactly one"),
        ("- a\n- b\n", "1:1: the top level must be a mapping of 'key: value' lines, got a list"),
        (
            "just words\n",
            "1:1: the top level must be a mapping of 'key: value' lines, got 'just words'",
        ),
    ],
)
def test_unreadable_yaml_is_one_short_located_problem(text: str, message: str) -> None:
    assert fatal(text) == f"f.yaml:{message}"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "---\n...\n"])
def test_an_empty_document_is_a_whole_file_problem(text: str) -> None:
    assert fatal(text) == "f.yaml: the file is empty"


def test_deep_nesting_is_refused_not_crashed_on() -> None:
    too_deep = "lists and mappings are nested more than 100 levels deep"
    assert fatal("a: " + "[" * 5000) == f"f.yaml: {too_deep}"
    assert fatal("a: " + "[" * 100 + "]" * 100) == f"f.yaml:1:103: {too_deep}"
    assert load("a: " + "[" * 99 + "]" * 99).where(("a",) + (0,) * 98) == Location(1, 102)


def test_json_is_yaml_even_with_tab_indentation() -> None:
    text = '{\n\t"org": "城关镇",\n\t"goals": [\n\t\t{"key": "a", "on": true}\n\t]\n}\n'
    loaded = load(text)
    assert loaded.data == {"org": "城关镇", "goals": [{"key": "a", "on": True}]}
    assert loaded.where(("goals", 0, "key")) == Location(4, 11)


def test_the_error_class_is_the_callers() -> None:
    with pytest.raises(PlanFileError):
        load_yaml("", source="plan.yaml", error=PlanFileError)


def test_load_yaml_file_names_the_file_and_reports_an_unreadable_one(tmp_path: Any) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    assert load_yaml_file(path).source == str(path)
    with pytest.raises(InputError) as caught:
        load_yaml_file(tmp_path / "missing.yaml")
    assert (
        str(caught.value)
        == f"{tmp_path / 'missing.yaml'}: cannot read the file: No such file or directory"
    )


def test_load_yaml_file_refuses_a_huge_file_without_reading_it_all(tmp_path: Any) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"#" * (3 * 1024 * 1024))
    with pytest.raises(InputError, match="larger than the limit of 1 MiB"):
        load_yaml_file(path)


# --------------------------------------------------------------------------- validation


class Task(DocModel):
    role: str
    due: Annotated[int, AfterValidator(between(1, 30))] = 7


class State(DocModel):
    title: Text
    initial: bool = False
    task: Task | None = None
    sign: Literal["any", "all", "sequence"] = "any"


class Doc(DocModel):
    name: str
    states: dict[str, State]
    steps: list[State] = Field(default_factory=list)


DESCRIBE = Describer(entries={"states": "state", "steps": "step"}, labels={"steps": "title"})


def problems_of(text: str) -> list[str]:
    loaded = load(text)
    doc, problems = validate(loaded, Doc, describe=DESCRIBE)
    assert (doc is None) == bool(problems)
    return [str(p) for p in problems]


def test_a_valid_document_gives_the_model_and_no_problems() -> None:
    loaded = load("name: n\nstates:\n  draft: {title: ' 草稿 '}\n")
    doc, problems = validate(loaded, Doc, describe=DESCRIBE)
    assert problems == []
    assert doc is not None and doc.states["draft"].title == "草稿"


def test_unknown_keys_suggest_the_nearest_allowed_key_at_the_key() -> None:
    text = "name: n\nstates:\n  township_review:\n    title: 审核\n    tsak: {role: r}\n"
    assert problems_of(text) == [
        "f.yaml:5:5: unknown key 'tsak' in state 'township_review'; did you mean 'task'?"
    ]


def test_unknown_keys_without_a_near_match_list_the_allowed_keys() -> None:
    assert problems_of("name: n\nstates: {}\ncolour: red\n") == [
        "f.yaml:3:1: unknown key 'colour' at the top level; allowed keys: name, states, steps"
    ]


def test_a_misspelt_required_key_is_one_problem_not_two() -> None:
    text = "name: n\nstates:\n  a: {title: A, task: {rol: x}}\n"
    assert problems_of(text) == [
        "f.yaml:3:24: unknown key 'rol' in 'task' of state 'a'; did you mean 'role'?"
    ]


def test_missing_keys_point_at_the_mapping_that_lacks_them() -> None:
    assert problems_of("states:\n  a: {task: {due: 3}}\n") == [
        "f.yaml:1:1: missing key 'name' at the top level",
        "f.yaml:2:3: missing key 'title' in state 'a'",
        "f.yaml:2:7: missing key 'role' in 'task' of state 'a'",
    ]


def test_wrong_types_name_the_key_and_the_value() -> None:
    text = (
        "name: 2025\nstates:\n  a: {title: A, initial: yes, sign: al, task: {role: r, due: 40}}\n"
        "  b: just a title\nsteps: {title: x}\n"
    )
    assert problems_of(text) == [
        "f.yaml:1:7: 'name' must be text, got 2025; put it in quotes: \"2025\"",
        "f.yaml:3:26: 'initial' must be true or false, got 'yes'",
        "f.yaml:3:37: 'sign' must be 'any', 'all' or 'sequence', got 'al'; did you mean 'all'?",
        "f.yaml:3:62: 'due' must be between 1 and 30, got 40",
        "f.yaml:4:6: state 'b' must be a mapping of 'key: value' entries, got 'just a title'",
        "f.yaml:5:8: 'steps' must be a list, like [a, b], got a mapping",
    ]


def test_list_entries_are_named_by_position_and_label() -> None:
    text = "name: n\nstates: {}\nsteps:\n  - {title: 第一步, initial: 1}\n  - {title: ''}\n"
    assert problems_of(text) == [
        "f.yaml:4:27: 'initial' must be true or false, got 1",
        "f.yaml:5:13: 'title' must not be empty",
    ]
    loaded = load(text)
    assert str(DESCRIBE.context(loaded.data, ("steps", 0))) == "in step 1 (第一步)"
    assert str(DESCRIBE.context(loaded.data, ("steps", 1))) == "in step 2"
    assert (
        str(DESCRIBE.context(loaded.data, ("steps", 0, "task"))) == "in 'task' of step 1 (第一步)"
    )
    assert str(DESCRIBE.subject(loaded.data, ("steps", 0))) == "step 1 (第一步)"
    assert str(DESCRIBE.subject(loaded.data, ("name", 2))) == "value 3 of 'name'"
    assert str(DESCRIBE.context(loaded.data, ("other", "x"))) == "in 'other.x'"


def test_errors_under_a_refused_tag_are_not_repeated() -> None:
    loaded = load("name: !!python/object/apply:os.system [ls]\nstates: {}\n")
    assert validate(loaded, Doc, describe=DESCRIBE)[1] == []
    assert [p.message for p in loaded.problems] == [
        "tags that build objects are not allowed: !!python/object/apply:os.system"
    ]


def test_validate_can_check_one_part_of_a_document() -> None:
    loaded = load("states:\n  a: {title: A, tsak: 1}\n")
    state, problems = validate(loaded, State, describe=DESCRIBE, path=("states", "a"))
    assert state is None
    assert [str(p) for p in problems] == [
        "f.yaml:2:17: unknown key 'tsak' in state 'a'; did you mean 'task'?"
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "an empty value"),
        (True, "true"),
        (7, "7"),
        (1.5, "1.5"),
        ("7", "'7'"),
        ("x" * 50, "'" + "x" * 39 + "…'"),
        ([], "an empty list"),
        ([1], "a list"),
        ({}, "a mapping"),
    ],
)
def test_show_writes_values_as_the_administrator_wrote_them(value: Any, shown: str) -> None:
    assert str(show(value)) == shown


def test_suggestions() -> None:
    assert str(did_you_mean("reviwer", ["drafter", "reviewer"])) == "; did you mean 'reviewer'?"
    assert str(did_you_mean("zzz", ["drafter"])) == ""
    assert str(suggestion("zzz", ["b", "a", "b"], listing="known roles")) == "; known roles: b, a"
    assert str(suggestion("zzz", [], listing="known roles")) == ""
    assert str(suggestion("zzz", [str(i) for i in range(20)], listing="known")) == ""
