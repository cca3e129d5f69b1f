"""The Lark parser for grammar/schedule.lark, built once, and its errors in our words.

Lark's exceptions never leave this module: `parse_tree` turns every one of
them into a ScheduleValidationError that points at the offending column and
says, in words, what the grammar expected there.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path
from typing import Final

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

from bgjobs.errors import ScheduleValidationError

#: The start rules of grammar/schedule.lark.
START_RULES: Final = (
    "schedule",
    "cron_numbers",
    "cron_month_days",
    "cron_months",
    "cron_weekdays",
)

#: What each terminal looks like, as an error message says it.
_TERMINAL_WORDS: Final = {
    "EVERY": "'every'",
    "AT": "'at'",
    "ON": "'on'",
    "OR": "'or'",
    "IN": "'in'",
    "SECOND": "'second'",
    "MINUTE": "'minute'",
    "HOUR": "'hour'",
    "DAY": "'day'",
    "WEEK": "'week'",
    "MONTH": "'month'",
    "MS": "'ms'",
    "MILLISECOND": "'millisecond'",
    "MONTH_NAME": "a month name (january or jan)",
    "WEEKDAY_NAME": "a weekday name (monday, mon or mondays)",
    "WEEKDAYS": "'weekdays'",
    "WEEKENDS": "'weekends'",
    "LAST": "'last'",
    "ORDINAL": "an ordinal (1st..5th)",
    "NEAREST": "'nearest'",
    "BEFORE": "'before'",
    "CRON_MONTH": "a month name (jan..dec)",
    "CRON_WEEKDAY": "a weekday name (sun..sat)",
    "CRON_LAST": "'L', 'LW' or 'L-N'",
    "CRON_W": "'W'",
    "CRON_L": "'L'",
    "QUESTION": "'?'",
    "_HASH": "'#'",
    "TIME": "a time H:MM or H:MM:SS (such as 08:30)",
    "INT": "a number",
    "STAR": "'*'",
    "_COMMA": "','",
    "_DASH": "'-'",
    "_SLASH": "'/'",
    "ZONE": "a time zone name (such as Europe/Stockholm)",
    "$END": "the end of the text",
    "<END-OF-FILE>": "the end of the text",  # how Lark names $END in `expected`
}
# The order in which expected terminals are listed: keywords first, as a user reads them.
_TERMINAL_ORDER: Final = {name: index for index, name in enumerate(_TERMINAL_WORDS)}

#: Which schedule field a parser state is about, judged by what it expects next.
_FIELD_OF_TERMINAL: Final = {
    "TIME": "at",
    "ZONE": "timezone",
    "WEEKDAY_NAME": "day_of_week",
    "CRON_WEEKDAY": "day_of_week",
    "MONTH_NAME": "month",
    "CRON_MONTH": "month",
    "MS": "interval",
}

_WORD: Final = re.compile(r"[A-Za-z0-9_]+")
_CLAUSE_KEYWORD: Final = re.compile(
    r"\b(?:seconds?|minutes?|hours?|days?|months?|on|at|every|in)\b", re.IGNORECASE
)
_CHUNK: Final = re.compile(r"[^ \t\r\n]+")
# Longest piece of the input quoted back in a message.
_QUOTE_LIMIT: Final = 40


def _grammar_text() -> str:
    # Installed wheel: bgjobs/grammar/schedule.lark (pyproject force-include).
    # Source tree or editable install: <repo>/grammar/schedule.lark.
    packaged = resources.files("bgjobs").joinpath("grammar", "schedule.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source = Path(__file__).resolve().parents[2] / "grammar" / "schedule.lark"
    return source.read_text(encoding="utf-8")


@functools.cache
def _parser() -> Lark:
    return Lark(_grammar_text(), parser="lalr", lexer="contextual", start=list(START_RULES))


def parse_tree(text: str, start: str, *, source: str | None = None) -> Tree[Token]:
    """Parse `text` from the start rule `start`.

    `text` may be one piece of a larger `source` (a cron field) with every
    other character blanked out, so that offsets are the same in both; errors
    then point into `source`.
    """
    whole = text if source is None else source
    try:
        return _parser().parse(text, start=start)
    except UnexpectedToken as exc:
        raise _unexpected_token(exc, text, whole) from None
    except UnexpectedCharacters as exc:
        raise _unexpected_characters(exc, text, whole) from None
    except UnexpectedEOF as exc:
        raise _unexpected_end(set(exc.expected), text, whole) from None
    except LarkError as exc:  # pragma: no cover - Lark raises only the three above when parsing
        raise error_at(whole, 0, f"cannot parse this schedule: {exc}") from None


def position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based (line, column) of character `offset` in `text`."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def error_at(
    text: str,
    offset: int,
    reason: str,
    *,
    field: str | None = None,
    value: object = None,
    allowed: str | None = None,
) -> ScheduleValidationError:
    """A ScheduleValidationError pointing at character `offset` of `text`."""
    line, column = position(text, offset)
    return ScheduleValidationError(
        reason, field=field, value=value, allowed=allowed, text=text, line=line, column=column
    )


def relocate(exc: ScheduleValidationError, text: str, offset: int) -> ScheduleValidationError:
    """Return `exc` (raised without a place) pointing at character `offset` of `text`."""
    return exc.at(text, *position(text, offset))


def end_offset(text: str) -> int:
    """The offset just after the last non-blank character: where 'it ended too soon' points."""
    return len(text.rstrip(" \t\r\n"))


def quote(piece: str) -> str:
    """A piece of input, shortened if long, for an error message."""
    if len(piece) > _QUOTE_LIMIT:
        piece = piece[: _QUOTE_LIMIT - 3] + "..."
    return repr(piece)


def expected_words(names: set[str]) -> str:
    """'a number, '*' or the end of the text' for a set of terminal names."""
    words = [
        _TERMINAL_WORDS.get(name, name)
        for name in sorted(names, key=lambda n: (_TERMINAL_ORDER.get(n, 99), n))
    ]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _field_of(names: set[str]) -> str:
    for name in sorted(names):
        if name in _FIELD_OF_TERMINAL:
            return _FIELD_OF_TERMINAL[name]
    return "schedule"


def _unexpected_token(exc: UnexpectedToken, text: str, whole: str) -> ScheduleValidationError:
    token = exc.token
    expected = _plausible(set(exc.expected), text, token.start_pos or len(text))
    if token.type == "$END" or token.start_pos is None:
        return _unexpected_end(expected, text, whole)
    start = token.start_pos
    piece = str(token.value)
    # A word that only looks like a zone name here is just a word we do not know.
    what = "unknown word" if token.type == "ZONE" and piece[0].isalpha() else "unexpected"
    hint = ""
    if expected <= {"$END", "<END-OF-FILE>"}:
        hint = " (an interval 'every N UNIT' stands alone)" if _is_interval(text) else ""
    if expected == {"TIME"}:
        # "at 8:3" lexes as a number; quote the whole attempt at a time.
        found = _CHUNK.match(text, start)
        piece = found.group() if found else piece
    return error_at(
        whole,
        start,
        f"{what} {quote(piece)}: expected {expected_words(expected)}{hint}",
        field=_field_of(expected),
        value=piece,
        allowed=expected_words(expected),
    )


def _plausible(expected: set[str], text: str, offset: int) -> set[str]:
    # LALR shares the state after a number between all list clauses, so it
    # offers 'or' after any of them; only a day list may be followed by it.
    if "OR" in expected:
        keywords = _CLAUSE_KEYWORD.findall(text, 0, offset)
        if not keywords or not keywords[-1].lower().startswith("day"):
            expected = expected - {"OR"}
    return expected


def _is_interval(text: str) -> bool:
    return re.match(r"\s*every\s+[0-9]", text, re.IGNORECASE) is not None


def _unexpected_characters(
    exc: UnexpectedCharacters, text: str, whole: str
) -> ScheduleValidationError:
    start = exc.pos_in_stream or 0
    expected = set(exc.allowed or ())
    word = _WORD.match(text, start)
    if word is not None and "TIME" not in expected:
        piece = word.group()
        what = (
            f"unknown word {quote(piece)}" if piece[0].isalpha() else f"unexpected {quote(piece)}"
        )
    elif word is not None:
        found = _CHUNK.match(text, start)
        piece = found.group() if found else word.group()
        what = f"unexpected {quote(piece)}"
    else:
        piece = text[start]
        what = f"unexpected character {quote(piece)}"
    return error_at(
        whole,
        start,
        f"{what}: expected {expected_words(expected)}" if expected else what,
        field=_field_of(expected),
        value=piece,
        allowed=expected_words(expected) if expected else None,
    )


def _unexpected_end(expected: set[str], text: str, whole: str) -> ScheduleValidationError:
    piece = text.strip()
    if not piece:
        reason = f"empty schedule: expected {expected_words(expected)}"
    elif text is not whole:
        reason = f"the cron field {quote(piece)} ends too soon: expected {expected_words(expected)}"
    else:
        reason = f"the schedule ends too soon: expected {expected_words(expected)}"
    return error_at(
        whole,
        end_offset(text),
        reason,
        field=_field_of(expected),
        value=piece,
        allowed=expected_words(expected),
    )
