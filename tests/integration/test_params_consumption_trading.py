"""Consumption honesty for the trading side: every TradingRisk / sizing parameter marked as read by
engine.trading.risk_limits, .sizing or .auto_halts is read when those modules load their configuration."""
from engine.params import ReadRecorder, default_params, load_schema
from engine.trading.auto_halts import AutoActions
from engine.trading.risk_limits import RiskLimits
from engine.trading.sizing import SizingParams

CHECKED = ("engine.trading.risk_limits", "engine.trading.sizing", "engine.trading.auto_halts")


def test_trading_parameters_marked_used_are_read():
    rec = ReadRecorder()
    ps = default_params().with_recorder(rec)
    RiskLimits.from_params(ps)
    SizingParams.from_params(ps)
    AutoActions.from_params(ps)
    read = rec.fields_read()
    unread = [f"{sh.name}.{sec.key}.{f.name} ({f.consumer})" for sh, sec, f in load_schema().iter_fields()
              if f.used and f.consumer in CHECKED and (sh.name, sec.key, f.name) not in read]
    assert not unread, "marked used by the trading engine but never read:\n" + "\n".join(unread)


def test_flatten_on_shutdown_and_stale_action_are_in_the_schema():
    ps = default_params()
    assert ps.sheet("TradingRisk").get("flatten_on_shutdown") is False
    assert AutoActions.from_params(ps).stale_data_action == "REDUCING"
