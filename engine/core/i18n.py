"""Messages in the reader's language: a gettext catalogue, Chinese by default.

Every sentence a person reads is written in the code in English, as a `str.format` template
whose placeholders name its values (`"no plan #{plan_id}"`), and looked up in the catalogue of the
current language when it is shown: `_()` translates at once (the edges' labels), `Message` and the
errors (`engine.core.errors`) keep the template and their values and translate when read, so one
error reads in Chinese on a page and in English in an operator's log. The English template is the
message id; English itself needs no catalogue.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

Language = Literal["zh_CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh_CN", "en")
DEFAULT_LANGUAGE: Language = "zh_CN"
DOMAIN = "planflow"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

# The process's language, set once by its edge; a context (a request, a test) may override it.
# Not a context variable alone: threads (the scheduler's, the delivery pool's) start with an empty
# context and would read the default, not what the edge chose.
_process_language: Language = DEFAULT_LANGUAGE
_current: ContextVar[Language | None] = ContextVar("planflow_language", default=None)


def current_language() -> Language:
    return _current.get() or _process_language


def set_language(language: Language) -> None:
    """The language of this process from now on (each edge sets it from `PLANFLOW_LANG`)."""
    global _process_language
    _process_language = language


def language_named(name: str | None) -> Language:
    """The language `name` stands for; the default for none or one Planflow does not speak
    (the settings refuse those: this is for the moment before they are read)."""
    return next((language for language in LANGUAGES if language == name), DEFAULT_LANGUAGE)


@contextmanager
def use_language(language: Language) -> Iterator[None]:
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


@cache
def _catalogue(language: Language) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True)


def translate(template: str, language: Language | None = None) -> str:
    """The template in `language` (default: the current one); itself when it has no entry."""
    if not template:  # gettext's "" is the catalogue's header
        return ""
    return _catalogue(language or current_language()).gettext(template)


def N_(template: str) -> str:
    """Mark a template for extraction where it is not passed straight to a keyword (`_`,
    `Message.of`, an error class): `super().__init__(N_("…"), …)`."""
    return template


def _(template: str, /, **values: Any) -> str:
    """Translate now, and fill in `values` when given."""
    return render(template, values)


def render(template: str, values: Mapping[str, Any], language: Language | None = None) -> str:
    """`template` translated and filled in; values that are `Message`s are rendered alike.

    A template without values is not a format string: a sentence that names nothing may hold
    braces as they are.
    """
    language = language or current_language()
    if not values:
        return translate(template, language)
    filled = {
        name: value.render(language) if isinstance(value, Message) else value
        for name, value in values.items()
    }
    return translate(template, language).format(**filled)


class Message(NamedTuple):
    """A sentence to translate when read: its English template and the values it names.

    For a piece of an error's message that is itself a sentence ("; did you mean …?").
    """

    template: str
    values: Mapping[str, Any] = {}

    @classmethod
    def of(cls, template: str, /, **values: Any) -> Message:
        return cls(template, values)

    def render(self, language: Language | None = None) -> str:
        return render(self.template, self.values, language)

    def __str__(self) -> str:
        return self.render()
