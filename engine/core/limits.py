"""What a plan may hold: the one place that says how long each stored text and how large a plan is.

The pure core checks plan files, comments and notes against these limits, and the database tables
(`engine.store.tables`) take their column lengths from here, so what validation accepts always
fits both databases (PostgreSQL refuses a text longer than its column; SQLite would keep it).
Texts kept in unbounded columns (a section's body, an item's detail, comments and notes) get
limits of their own, generous for an annual plan and far below what a mistake would produce.
"""

from __future__ import annotations

import math
from decimal import Decimal

from engine.core.errors import ActionRefused
from engine.core.i18n import N_, Message

# Lengths in characters (code points), as PostgreSQL's varchar(n) counts them.
ORG_CODE = 64
ORG_NAME = 200
USERNAME = 64
USER_NAME = 200
EMAIL = 320  # RFC 5321's longest address
TEMPLATE_NAME = 64
PLAN_TITLE = 300
SECTION_HEADING = 200
SECTION_BODY = 20_000
GOAL_KEY = 64
GOAL_TITLE = 300
GOAL_UNIT = 32
ITEM_TITLE = 300
ITEM_DETAIL = 4_000
COMMENT = 4_000  # `act --comment`, report notes: a paragraph or two, never a document

# How much one annual plan holds: a county's plans have a handful of sections and goals and a few
# dozen monthly items; ten times that is still a plan, more is a generated file gone wrong.
MAX_SECTIONS = 50
MAX_GOALS = 100
MAX_ITEMS = 200

# Row ids are PostgreSQL integers (SQLite's are wider, but the two must agree): an id beyond them
# names no row, and is answered as one that does not exist, never sent to the database to fail.
MAX_ROW_ID = 2**31 - 1

# Versions (of a template, as a plan file names it) are PostgreSQL integers; one per change of a
# template, so a million is never reached by design and 2**31 never by accident.
MAX_VERSION = 1_000_000

# Targets are stored as double-precision floats, which hold 15 significant digits exactly.
MAX_TARGET = Decimal(10) ** 12
SIGNIFICANT_DIGITS = 15


def unstorable(value: str) -> Message | None:
    """Why no database can store `value` as text (a NUL, a lone surrogate), or None."""
    if "\0" in value:
        return Message.of("contains a NUL character (\\u0000), which cannot be stored; remove it")
    lone = next((char for char in value if "\ud800" <= char <= "\udfff"), None)
    if lone is not None:
        return Message.of(
            "contains a lone UTF-16 surrogate (\\u{code_point}), which is not a character; "
            "write the character itself or its full surrogate pair",
            code_point=f"{ord(lone):04x}",
        )
    return None


def text_complaint(value: str, max_chars: int) -> Message | None:
    """Why `value` cannot be stored in a text of at most `max_chars`, or None if it can."""
    complaint = unstorable(value)
    if complaint is not None:
        return complaint
    if len(value) > max_chars:
        return Message.of(
            "is {length} characters long; the limit is {limit}", length=len(value), limit=max_chars
        )
    return None


def target_complaint(target: Decimal) -> Message | None:
    """Why a goal target cannot be stored exactly, or None if it can."""
    if not target.is_finite() or abs(target) > MAX_TARGET:
        return Message.of(
            "must be at most {limit} in size, got {value}",
            limit=f"{MAX_TARGET:,}",
            value=f"{target:.6g}",
        )
    digits = len(target.normalize().as_tuple().digits)
    if digits > SIGNIFICANT_DIGITS:
        return Message.of(
            "has {digits} significant digits; a stored target keeps {kept}, so round it",
            digits=digits,
            kept=SIGNIFICANT_DIGITS,
        )
    return None


# What the service's checks name (`check_text("comment", …)`), in the catalogue.
FIELD_NAMES = (
    N_("comment"),
    N_("note"),
    N_("score"),
    N_("actual"),
    N_("organisation's name"),
    N_("user's name"),
    N_("email address"),
)


def check_text(what: str, value: str | None, max_chars: int) -> None:
    """Refuse a text given on its own (`what` names it in English: a comment, a name; see
    `FIELD_NAMES`) that cannot be stored in `max_chars`."""
    if value is None:
        return
    complaint = text_complaint(value, max_chars)
    if complaint is not None:
        raise ActionRefused(
            "the {what} {complaint}",
            code="input.text_unstorable",
            field=what,
            what=Message(what),
            complaint=complaint,
        )


def check_comment(what: str, value: str | None) -> None:
    """Refuse a comment or note (`what` names it) that cannot be stored."""
    check_text(what, value, COMMENT)


def check_finite(what: str, value: float | None) -> None:
    """Refuse infinity and NaN: SQLite keeps NaN as NULL, and JSON has neither."""
    if value is not None and not math.isfinite(value):
        raise ActionRefused(
            "the {what} must be a finite number, got {value}",
            code="input.not_finite",
            field=what,
            what=Message(what),
            value=value,
        )
