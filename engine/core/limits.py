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

# Versions (of a template, as a plan file names it) are PostgreSQL integers; one per change of a
# template, so a million is never reached by design and 2**31 never by accident.
MAX_VERSION = 1_000_000

# Targets are stored as double-precision floats, which hold 15 significant digits exactly.
MAX_TARGET = Decimal(10) ** 12
SIGNIFICANT_DIGITS = 15


def unstorable(value: str) -> str | None:
    """Why no database can store `value` as text (a NUL, a lone surrogate), or None."""
    if "\0" in value:
        return "contains a NUL character (\\u0000), which cannot be stored; remove it"
    lone = next((char for char in value if "\ud800" <= char <= "\udfff"), None)
    if lone is not None:
        return (
            f"contains a lone UTF-16 surrogate (\\u{ord(lone):04x}), which is not a character; "
            "write the character itself or its full surrogate pair"
        )
    return None


def text_complaint(value: str, max_chars: int) -> str | None:
    """Why `value` cannot be stored in a text of at most `max_chars`, or None if it can."""
    complaint = unstorable(value)
    if complaint is not None:
        return complaint
    if len(value) > max_chars:
        return f"is {len(value)} characters long; the limit is {max_chars}"
    return None


def target_complaint(target: Decimal) -> str | None:
    """Why a goal target cannot be stored exactly, or None if it can."""
    if not target.is_finite() or abs(target) > MAX_TARGET:
        return f"must be at most {MAX_TARGET:,} in size, got {target:.6g}"
    digits = len(target.normalize().as_tuple().digits)
    if digits > SIGNIFICANT_DIGITS:
        return (
            f"has {digits} significant digits; a stored target keeps {SIGNIFICANT_DIGITS}, "
            "so round it"
        )
    return None


def check_text(what: str, value: str | None, max_chars: int) -> None:
    """Refuse a text given on its own (`what` names it: a comment, a name) that cannot be
    stored in `max_chars`."""
    if value is None:
        return
    complaint = text_complaint(value, max_chars)
    if complaint is not None:
        raise ActionRefused(f"the {what} {complaint}")


def check_comment(what: str, value: str | None) -> None:
    """Refuse a comment or note (`what` names it) that cannot be stored."""
    check_text(what, value, COMMENT)


def check_finite(what: str, value: float | None) -> None:
    """Refuse infinity and NaN: SQLite keeps NaN as NULL, and JSON has neither."""
    if value is not None and not math.isfinite(value):
        raise ActionRefused(f"the {what} must be a finite number, got {value}")
