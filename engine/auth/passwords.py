"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile).

A login for an unknown name still verifies against a dummy hash, so the answer takes as long as
for a real name and does not tell which names exist.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; a bound keeps a hostile 10 MB password from costing CPU
MIN_SCORE = 3  # zxcvbn's "safely unguessable" (10^8+ guesses): what an offline guesser of a leaked hash faces
SCORED_LENGTH = 72  # zxcvbn's own bound; a longer password is scored on its first 72 characters
# words a guesser of this site tries first: its name, and the example passwords its own documentation prints
SITE_WORDS = ("regimedesk", "regime", "desk", "trading", "a long passphrase", "another passphrase")

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("regimedesk-dummy-password-for-timing")


class WeakPassword(ValueError):
    pass


def check_strength(password: str, name: str = "") -> None:
    """Refuse passwords a guesser tries first: short ones, the user's own name, one repeated character, and what
    zxcvbn (Dropbox's estimator: dictionaries of common passwords, names, keyboard walks, sequences, dates) scores
    below 3, this site's name and its documentation's example passwords counted as dictionary words."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_LENGTH} characters")
    if name and password.lower().strip() == name.lower():
        raise WeakPassword("the password must not be the user name")
    if len(set(password)) < 4:
        raise WeakPassword("the password must use at least 4 different characters")
    verdict = zxcvbn(password[:SCORED_LENGTH], user_inputs=[name, *SITE_WORDS] if name else list(SITE_WORDS))
    if verdict["score"] < MIN_SCORE:
        hint = str(verdict["feedback"].get("warning") or "").rstrip(".")
        raise WeakPassword("the password is too easy to guess" + (f" ({hint})" if hint else "") +
                           ": use a few unrelated words or a longer mix")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; always spends one argon2 verification (dummy hash if none)."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        password = ""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
