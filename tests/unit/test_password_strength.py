"""The password policy refuses what a guesser tries first (engine/auth/passwords.py): the cases are chosen by hand
from a security audit's probe (the README's own example password worked as a real admin's password, and
password1234 / qwertyuiop12 / aaaaaaaaaaab1234 passed the length-only rules)."""
from __future__ import annotations

import pytest

from engine.auth.passwords import MAX_LENGTH, WeakPassword, check_strength

REFUSED = [
    ("a long passphrase", "alice"),  # the README's example until now: printed in public documentation
    ("another passphrase", "alice"),
    ("password1234", "alice"),  # a very common password with digits appended
    ("qwertyuiop12", "alice"),  # a keyboard row
    ("aaaaaaaaaaab1234", "alice"),  # one repeated character and a sequence
    ("123456789012", "alice"),  # a digit sequence
    ("regimedesk2026", "alice"),  # the site's own name and a year
    ("alice-alice-alice", "alice"),  # the user's name repeated
    ("short-1", "alice"),  # under 12 characters
]
ACCEPTED = [
    ("newcomer-Pass-123!", "newcomer"),  # what the newcomer walk-through uses
    ("keys-to-the-house-1", "admin"),
    ("correct horse battery staple", "alice"),  # four unrelated words
    ("x7#Lp!q2Zr$v", "alice"),  # 12 random characters
]


@pytest.mark.parametrize(("password", "name"), REFUSED)
def test_guessable_passwords_are_refused_with_a_reason(password: str, name: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        check_strength(password, name)
    assert str(caught.value).startswith("the password ")


@pytest.mark.parametrize(("password", "name"), ACCEPTED)
def test_passwords_hard_to_guess_pass(password: str, name: str) -> None:
    check_strength(password, name)


def test_a_long_password_is_scored_on_its_start_and_bounded() -> None:
    check_strength("correct horse battery staple " * 8, "alice")  # 232 characters: scored on its first 72
    with pytest.raises(WeakPassword, match="at most"):
        check_strength("x7#Lp!q2Zr$v" * 30, "alice")  # past MAX_LENGTH
    assert len("x7#Lp!q2Zr$v" * 30) > MAX_LENGTH
