"""The callback error alert: a message written for a trader is shown as it is; Python's own texts are not."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

import pytest

from engine.portfolio_risk.stress import UserScenario
from webapp.auth.errors import control_name, describe
from webapp.manual_orders import TicketError


def _raised(fn) -> Exception:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception) as info:  # noqa: PT011 - any exception: the alert's wording is what is tested
        fn()
    return info.value


def test_project_errors_keep_their_words() -> None:
    assert describe(TicketError("enter a symbol (e.g. SPY)")) == ("That did not work, and nothing was changed: "
                                                                  "enter a symbol (e.g. SPY)")
    plain = _raised(lambda: UserScenario(name="", shocks={}).validate())  # a plain ValueError raised by the project
    assert type(plain) is ValueError
    assert describe(plain) == "That did not work, and nothing was changed: the scenario needs a name"


@pytest.mark.parametrize("fault", [
    lambda: int("²"),
    lambda: Decimal("1e999999999").normalize() + Decimal("1e999999999") * Decimal("1e999999999"),
    lambda: Decimal("sNaN") != Decimal(1),
    lambda: dt.date.max + dt.timedelta(days=1),
    lambda: dict(zip([1, 2], [1], strict=True)),
])
def test_pythons_own_errors_say_a_value_could_not_be_used(fault) -> None:  # type: ignore[no-untyped-def]
    exc = _raised(fault)
    text = describe(exc)
    assert text == (f"this page: a value on this page could not be used ({type(exc).__name__}); nothing was "
                    "changed. Reload the page if this keeps happening")
    assert "invalid literal" not in text and "<class" not in text and "zip()" not in text


def test_invalid_operation_is_not_shown_raw() -> None:
    exc = _raised(lambda: Decimal("sNaN") < 1)
    assert isinstance(exc, InvalidOperation) and "<class" not in describe(exc)


@pytest.mark.parametrize(("prop_id", "words"), [
    ("trading-ticket-size.n_clicks", "trading ticket size"),
    ('{"slot":3,"type":"trading-position-close"}.n_clicks', "trading position close"),
    ('{"type":"parameters-value","key":"RiskControls|main|0|x"}.value', "parameters value"),
    ("_pages_location.search", "pages location"),
    ("{not json}.value", "this page"),
])
def test_controls_are_named_in_words(prop_id: str, words: str) -> None:
    assert control_name(prop_id) == words
