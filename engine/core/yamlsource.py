"""Safe, located YAML loading, shared by workflow templates and plan files.

`load_yaml` reads text with PyYAML's *composer* only (never its constructor, so no tag can build a
Python object) and builds plain dicts, lists and scalars itself, recording a (line, column) for
every value and every key. `yamlschema.validate` then checks the data against a model. JSON is
YAML, so plan files in JSON take the same road.

Scalar policy (YAML 1.2 core schema rather than PyYAML's YAML 1.1): only `true`/`false` are
booleans, so `on`, `off`, `yes`, `no` stay text (`trigger: on` is the string "on"); integers are
decimal (`08` is 8, never octal) or `0x…`/`0o…`; `null`, `~` and an empty value are null;
sexagesimal numbers and timestamps do not exist, so `time: 9:30` and `2025-03-01` stay text.
Keys are always the text as written. Merge keys (`<<`) and every tag beyond the core ones are
refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from engine.core.errors import InputError, Problem
from engine.core.i18n import Message
from engine.core.limits import unstorable

MAX_BYTES = 1024 * 1024  # templates and plans are a few KiB; anything near this is a mistake
MAX_VALUES = 100_000  # values after alias expansion: stops "billion laughs" long before memory
MAX_DEPTH = 100  # nesting of lists and mappings; ours need 5, and building values recurses

YamlPath = tuple[str | int, ...]


class Location(NamedTuple):
    line: int  # 1-based
    column: int  # 1-based


_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_SEQ, _MAP = _TAG + "seq", _TAG + "map"
_ALLOWED_TAGS = frozenset({_STR, _NULL, _BOOL, _INT, _FLOAT, _SEQ, _MAP})


class _Loader(yaml.SafeLoader):
    """A SafeLoader resolving plain scalars by the YAML 1.2 core schema (see module docstring)."""

    # Own dict, so PyYAML's YAML 1.1 resolvers (yes/no/on/off booleans, base-60 ints,
    # timestamps, `<<` merge, `=`) are not inherited.
    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012


_CORE_SCHEMA = (  # (tag, pattern, possible first characters); ints before floats: `7` is both
    (_NULL, r"(?:~|null|Null|NULL|)\Z", ["~", "n", "N", ""]),
    (_BOOL, r"(?:true|True|TRUE|false|False|FALSE)\Z", list("tTfF")),
    (_INT, r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z", list("-+0123456789")),
    (
        _FLOAT,
        r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z",
        list("-+.0123456789"),
    ),
)
for _core_tag, _pattern, _first in _CORE_SCHEMA:
    _Loader.add_implicit_resolver(_core_tag, re.compile(_pattern), _first)


# --------------------------------------------------------------------------- the loaded document


@dataclass(frozen=True)
class LoadedYaml:
    """A YAML mapping as plain Python values, with the location of every value and key."""

    source: str
    data: dict[str, Any]
    problems: tuple[Problem, ...]  # found while building (duplicate keys, tags); data still usable
    values: Mapping[YamlPath, Location]
    keys: Mapping[YamlPath, Location]  # where the key naming each mapping entry is written
    unreadable: frozenset[YamlPath]  # values refused while building; stand as None in `data`

    def where(self, path: YamlPath) -> Location:
        """Where the value at `path` starts, else where its nearest located ancestor does."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return Location(1, 1)

    def where_key(self, path: YamlPath) -> Location:
        """Where the key of the entry at `path` is written (list entries: where they start)."""
        return self.keys.get(path) or self.where(path)

    def problem(self, path: YamlPath, message: str | Message, *, at_key: bool = False) -> Problem:
        line, column = self.where_key(path) if at_key else self.where(path)
        return Problem.of(self.source, line, column, message)

    def get(self, path: YamlPath) -> Any:
        """The value at `path`, or None where the path leads nowhere."""
        value: Any = self.data
        for part in path:
            if isinstance(value, dict) and isinstance(part, str):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                return None
        return value

    def is_unreadable(self, path: YamlPath) -> bool:
        return any(path[:end] in self.unreadable for end in range(len(path) + 1))


def load_yaml(
    text: str | bytes,
    *,
    source: str,
    error: type[InputError] = InputError,
    max_bytes: int = MAX_BYTES,
    max_values: int = MAX_VALUES,
) -> LoadedYaml:
    """Read one YAML document whose top level is a mapping.

    Problems that leave nothing to read (size, encoding, syntax, alias bombs, not a mapping) raise
    `error` at once; duplicate keys and refused tags are returned in `LoadedYaml.problems` so the
    caller can report them together with everything else.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        root = _compose(_decode(raw, max_bytes), max_values)
    except _Fatal as fatal:
        raise error([Problem.of(source, *fatal.where, fatal.message)]) from None
    builder = _Builder(source)
    data = builder.build(root, ())
    return LoadedYaml(
        source=source,
        data=data,
        problems=tuple(builder.problems),
        values=builder.values,
        keys=builder.keys,
        unreadable=frozenset(builder.unreadable),
    )


def load_yaml_file(path: str | Path, *, error: type[InputError] = InputError) -> LoadedYaml:
    """`load_yaml` on a file, named in messages as given; an unreadable file is a problem too."""
    return load_yaml(read_source(path, error=error), source=str(path), error=error)


def read_source(path: str | Path, *, error: type[InputError] = InputError) -> bytes:
    """A file's bytes, at most `MAX_BYTES` + 1 of them: enough to tell it is too big, never more.

    Every template and plan file is read this way, so a 600 MB file costs 1 MiB, not 600 MB,
    before `load_yaml` refuses it.
    """
    try:
        with Path(path).open("rb") as stream:
            return stream.read(MAX_BYTES + 1)
    except OSError as failure:
        reason = failure.strerror or str(failure)
        message = Message.of("cannot read the file: {reason}", reason=reason)
        raise error([Problem.of(str(path), 0, 0, message)]) from None


# --------------------------------------------------------------------------- reading the text


_WHOLE_FILE = Location(0, 0)
_TOO_DEEP = Message.of(
    "lists and mappings are nested more than {depth} levels deep", depth=MAX_DEPTH
)


class _Fatal(Exception):
    """A problem that leaves nothing to read; `where` is (0, 0) when it concerns the whole file."""

    def __init__(self, message: Message, where: Location = _WHOLE_FILE) -> None:
        super().__init__(message.template)
        self.message = message
        self.where = where


def _decode(raw: bytes, max_bytes: int) -> str:
    if len(raw) > max_bytes:
        raise _Fatal(
            Message.of("the file is larger than the limit of {size}", size=_size(max_bytes))
        )
    nul = raw.find(b"\0")
    if nul >= 0:
        raise _Fatal(
            Message.of(
                "binary data: NUL byte at byte offset {offset}; save the file as UTF-8 text",
                offset=nul,
            )
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        byte = raw[bad.start]
        raise _Fatal(
            Message.of(
                "not UTF-8 text: invalid byte 0x{byte} at byte offset {offset}; "
                "save the file as UTF-8",
                byte=f"{byte:02x}",
                offset=bad.start,
            )
        ) from None
    text = text.removeprefix("\ufeff")
    if text.lstrip().startswith("{"):
        # JSON allows tabs between tokens, PyYAML does not; a raw tab cannot occur inside a
        # JSON string, so turning tabs into spaces changes no value and keeps every column.
        text = text.replace("\t", " ")
    return text


def _size(count: int) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count} bytes"


def _single_node(text: str) -> yaml.Node | None:
    try:
        loader = _Loader(text)  # the reader refuses control characters right here
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as bad:
        raise _syntax_problem(bad) from None
    except yaml.reader.ReaderError as bad:
        where = _offset_location(text, bad.position)
        message = Message.of(
            "YAML syntax: control character U+{character} is not allowed",
            character=f"{bad.character:04X}",
        )
        raise _Fatal(message, where) from None
    except RecursionError:  # the composer recurses; past Python's limit there is no location
        raise _Fatal(_TOO_DEEP) from None


def _compose(text: str, max_values: int) -> yaml.MappingNode:
    root = _single_node(text)
    if root is None or (root.tag == _NULL and not root.value):
        raise _Fatal(Message.of("the file is empty"))
    if not isinstance(root, yaml.MappingNode):
        kind = Message.of("a list") if isinstance(root, yaml.SequenceNode) else f"{root.value!r}"
        message = Message.of(
            "the top level must be a mapping of 'key: value' lines, got {kind}", kind=kind
        )
        raise _Fatal(message, _at(root))
    _check_expansion(root, max_values)
    return root


# PyYAML's token names mean little to an administrator; say what they stand for.
# PyYAML's own sentences stay English (they come from the parser), with its token names in words.
_TOKEN_WORDS = {
    "'<stream end>'": "the end of the file",
    "'<block end>'": "the end of an indented block",
    "'<block mapping start>'": "a new indented key",
    "'<block sequence start>'": "a new list",
    "'<document start>'": "'---'",
    "'?'": "a key",
    "'-'": "a list entry '-'",
}

# Errors worth a sentence of their own: (test on the error, message, point at the context mark:
# where the unclosed quote or the first document began rather than where PyYAML gave up).
_SYNTAX_MESSAGES: tuple[tuple[Callable[[yaml.MarkedYAMLError], bool], Message, bool], ...] = (
    (
        lambda bad: bad.context == "expected a single document in the stream",
        Message.of("more than one YAML document ('---'); a file holds exactly one"),
        False,
    ),
    (
        lambda bad: "'\\t'" in (bad.problem or ""),
        Message.of("YAML syntax: tab character; indent with spaces, not tabs"),
        False,
    ),
    (
        lambda bad: (bad.problem or "").startswith("expected <block end>"),
        Message.of("YAML syntax: bad indentation; this line does not line up with its block"),
        False,
    ),
    (
        lambda bad: bad.context == "while scanning a quoted scalar",
        Message.of("YAML syntax: this quoted value is never closed"),
        True,
    ),
    (
        lambda bad: bad.context == "while scanning a block scalar",
        Message.of("YAML syntax: a value starting with '>' or '|' must be quoted, e.g. \">=\""),
        True,
    ),
)


def _syntax_problem(bad: yaml.MarkedYAMLError) -> _Fatal:
    for applies, message, at_context in _SYNTAX_MESSAGES:
        if applies(bad):
            return _Fatal(
                message, _mark((bad.context_mark if at_context else None) or bad.problem_mark)
            )
    where = _mark(bad.problem_mark or bad.context_mark)
    problem = bad.problem or bad.context or "unreadable YAML"
    if problem.startswith("found undefined alias"):
        name = problem.split()[-1].strip("'")
        return _Fatal(
            Message.of("YAML syntax: alias *{name} has no anchor &{name} before it", name=name),
            where,
        )
    for token, words in _TOKEN_WORDS.items():
        problem = problem.replace(token, words)
    return _Fatal(Message.of("YAML syntax: {problem}", problem=problem), where)


def _mark(mark: yaml.Mark | None) -> Location:
    return Location(mark.line + 1, mark.column + 1) if mark else _WHOLE_FILE


def _offset_location(text: str, offset: int) -> Location:
    before = text[:offset]
    return Location(before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)


def _at(node: yaml.Node) -> Location:
    return Location(node.start_mark.line + 1, node.start_mark.column + 1)


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def _check_expansion(root: yaml.Node, limit: int) -> None:
    """Refuse alias bombs, self-containing aliases and deep nesting before building anything.

    The composer shares the anchored node wherever an alias points to it, so counting with a
    memo costs one visit per distinct node, however large the expansion would be.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise _Fatal(
                Message.of("an alias here refers to the value that contains it"), _at(node)
            )
        if len(open_nodes) >= MAX_DEPTH:
            raise _Fatal(_TOO_DEEP, _at(node))
        open_nodes.add(id(node))
        total = 1 + sum(size(child) for child in _children(node))
        open_nodes.discard(id(node))
        if total > limit:
            raise _Fatal(
                Message.of(
                    "more than {limit} values once aliases are expanded; "
                    "is this an alias bomb (billion laughs)?",
                    limit=limit,
                ),
                _at(node),
            )
        sizes[id(node)] = total
        return total

    size(root)


# --------------------------------------------------------------------------- building values


class _Builder:
    """Turns composed nodes into plain values, noting locations and non-fatal problems."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.values: dict[YamlPath, Location] = {}
        self.keys: dict[YamlPath, Location] = {}
        self.problems: list[Problem] = []
        self.unreadable: set[YamlPath] = set()

    def build(self, node: yaml.MappingNode, path: YamlPath) -> dict[str, Any]:
        value = self._value(node, path)
        # A refused tag on the root mapping leaves no value; that problem is already recorded.
        return value if isinstance(value, dict) else {}

    def _note(self, node: yaml.Node, message: Message) -> None:
        self.problems.append(Problem.of(self.source, *_at(node), message))

    def _refuse(self, node: yaml.Node, path: YamlPath, message: Message) -> None:
        self._note(node, message)
        self.unreadable.add(path)

    def _value(self, node: yaml.Node, path: YamlPath) -> Any:
        self.values[path] = _at(node)
        if node.tag not in _ALLOWED_TAGS:
            self._refuse(node, path, _tag_refused(node))
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self._value(child, (*path, i)) for i, child in enumerate(node.value)]
        try:
            value = _scalar(node.tag, node.value)
        except ValueError:
            message = Message.of(
                "cannot read {value} as {tag}", value=_shown(node.value), tag=_tag(node)
            )
            self._refuse(node, path, message)
            return None
        if isinstance(value, str):
            value = joined_surrogates(value)
            complaint = unstorable(value)
            if complaint is not None:
                message = Message.of(
                    "{subject} {complaint}", subject=_named(path), complaint=complaint
                )
                self._refuse(node, path, message)
                return None
        return value

    def _mapping(self, node: yaml.MappingNode, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            if key is None:
                continue
            entry = (*path, key)
            first = self.keys.get(entry)
            if first is not None:
                message = Message.of(
                    "duplicate key '{key}' (first written at line {line}, column {column})",
                    key=key,
                    line=first.line,
                    column=first.column,
                )
                self._note(key_node, message)
                continue
            self.keys[entry] = _at(key_node)
            result[key] = self._value(value_node, entry)
        return result

    def _key(self, node: yaml.Node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self._note(node, Message.of("a key must be a plain name, not a list or mapping"))
        elif node.tag not in _ALLOWED_TAGS:
            self._note(node, _tag_refused(node))
        elif node.value == "<<" and node.style is None:
            self._note(node, Message.of("merge keys ('<<') are not supported; write the keys out"))
        elif (complaint := unstorable(joined_surrogates(node.value))) is not None:
            self._note(node, Message.of("a key {complaint}", complaint=complaint))
        else:
            return joined_surrogates(str(node.value))
        return None


def joined_surrogates(text: str) -> str:
    """Text with each UTF-16 surrogate pair made one character; lone surrogates stay.

    A double-quoted YAML or JSON string may write a character beyond U+FFFF as its surrogate pair
    (`"\\ud83c\\udf8a"`, as `json.dumps` does by default); PyYAML reads each half on its own.
    """
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE_PAIR.sub(
        lambda pair: pair[0].encode("utf-16-le", "surrogatepass").decode("utf-16-le"), text
    )


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


def _named(path: YamlPath) -> Message | str:
    """The value at `path` as messages name it: "'title'", "value 2 of 'remind'"."""
    if not path or (isinstance(path[-1], int) and len(path) == 1):
        return Message.of("the document")
    if isinstance(path[-1], int):
        return Message.of("value {position} of '{key}'", position=path[-1] + 1, key=path[-2])
    return f"'{path[-1]}'"


def _shown(text: str, limit: int = 40) -> str:
    """A scalar quoted in a message, shortened: a 5,000-digit number need not be printed whole."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _tag_refused(node: yaml.Node) -> Message:
    return Message.of("tags that build objects are not allowed: {tag}", tag=_tag(node))


def _tag(node: yaml.Node) -> str:
    return node.tag.replace(_TAG, "!!")


def _scalar(tag: str, text: str) -> Any:
    """The value of a scalar whose tag was resolved (or written) as one of the core tags."""
    if tag == _NULL:
        return None
    if tag == _BOOL:
        if text.lower() not in ("true", "false"):
            raise ValueError(text)
        return text.lower() == "true"
    if tag == _INT:
        base = 0 if text.lower().lstrip("+-").startswith(("0x", "0o")) else 10
        return int(text, base)
    if tag == _FLOAT:
        lowered = text.lower()
        if lowered.endswith(".nan"):
            return math.nan
        if lowered.endswith(".inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        return float(text)
    return text


def reads_as_text(value: str) -> bool:
    """Whether `value`, written as a plain (unquoted) scalar, loads back as that text here.

    For writers of YAML (`planfile_export`): PyYAML quotes what YAML 1.1 would read as something
    else, but `true`-like and number-like text is decided by this loader's core schema.
    """
    tag: str = _Loader("").resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag == _STR
