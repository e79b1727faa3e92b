"""Why a user name is refused, said precisely: which character, or the length, or the space at an end.

The rule itself is engine.auth.users.NAME_PATTERN (1 to 64 ASCII letters, digits or . _ @ -). "a user name is
1 to 64 letters, digits or . _ @ -" alone left the person guessing: a Cyrillic "а" in "аdmin" looks like the
letter it imitates, and a space a phone keyboard added at the start of the first-run setup's name is invisible.
"""
from __future__ import annotations

import re
import unicodedata

RULE = "a user name is 1 to 64 letters, digits or . _ @ -"
MAX_NAME = 64
_ALLOWED = re.compile(r"[A-Za-z0-9_.@-]")


def _character(c: str) -> str:
    code = f"U+{ord(c):04X}"
    described = unicodedata.name(c, "")
    if c == " ":
        return "a space"
    if c.isprintable() and not c.isspace():
        return f"{c!r} ({code} {described})" if described else f"{c!r} ({code})"
    return f"the invisible character {code}" + (f" {described}" if described else "")


def refusal(name: object) -> str:
    """The message refusing `name` (which broke the rule): the rule, then what is wrong with this name."""
    if not isinstance(name, str) or not name:
        return f"{RULE}: none was given"
    if len(name) > MAX_NAME:
        return f"{RULE}: this one has {len(name)} characters"
    if name != name.strip():
        return f"{RULE}: this one starts or ends with white space"
    bad = next((c for c in name if not _ALLOWED.fullmatch(c)), None)
    if bad is None:  # every character is allowed: only a final newline can be left ("$" matched before it)
        return RULE
    ascii_note = "" if bad.isascii() else ", not an ASCII letter or digit"
    return f"{RULE}: this one has {_character(bad)}{ascii_note}"
