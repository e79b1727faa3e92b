"""Runtime API of engine.params: typed access, immutability, canonical round trip, read tracking."""
from datetime import time

import pytest

from engine.params import (
    ParamsError,
    ParamSet,
    ReadRecorder,
    ValidationError,
    default_params,
    load_schema,
    track_reads,
)


def test_typed_attribute_access():
    ps = default_params()
    atr = ps.sheet("ATRIndicatorsConfig")
    assert atr.atr_period == 14 and isinstance(atr.atr_period, int)
    assert atr.atr_smoothing == "EMA"
    assert atr.use_true_range is True
    assert ps.sheet("MasterConfiguration").market_open_time == time(9, 15)
    assert ps.sheet("StabilityConfiguration").confidence_threshold == pytest.approx(0.45)
    assert ps.sheet("MultiTimeframeFusion").secondary_timeframes == ("1M", "15M", "30M", "60M")
    # a second kv section of a sheet is reachable by name too
    assert ps.sheet("MultiTimeframeConfig").consensus_method == "WEIGHTED_VOTING"


def test_tables_and_sections():
    ps = default_params()
    regimes = ps.table("RegimeClassification")
    assert len(regimes) == 18
    assert regimes[0].regime_id == 0 and regimes[0].regime_name == "Strong_Bullish_High_Vol"
    assert regimes[0].volatility_class == "High" and regimes[0].color == "#00FF00"
    vol = ps.table("RegimeClassification", "volatility_thresholds")
    assert [r.class_ if False else r.as_dict()["class"] for r in vol] == ["Low", "Medium", "High"]
    trend = ps.table("RegimeClassification", "trend_thresholds")
    assert trend[0].min_slope == -1.0 and trend[-1].max_slope == 1.0
    assert ps.table("IntradaySettings")[0].start_time == time(9, 0)
    assert ps.table("TradingRisk", "bias_size_multipliers")[0].trading_bias == "NONE"


def test_unknown_names_raise_clear_errors():
    ps = default_params()
    with pytest.raises(AttributeError, match="no parameter 'atr_perod'"):
        _ = ps.sheet("ATRIndicatorsConfig").atr_perod
    with pytest.raises(ParamsError, match="no sheet"):
        ps.sheet("Nope")
    with pytest.raises(ParamsError, match="key/value section"):
        ps.table("MultiTimeframeConfig", "consensus_configuration")


def test_immutable():
    ps = default_params()
    with pytest.raises(AttributeError):
        ps.sheet("ATRIndicatorsConfig").atr_period = 3
    with pytest.raises(AttributeError):
        ps.table("RegimeClassification")[0].regime_id = 5


def test_canonical_round_trip_and_hash():
    ps = default_params()
    c = ps.to_canonical()
    ps2 = ParamSet.from_canonical(c, version_id=7)
    assert ps2.content_hash == ps.content_hash and ps2.version_id == 7
    c["sheets"]["ATRIndicatorsConfig"]["main"]["atr_period"] = 15
    assert ParamSet.from_canonical(c).content_hash != ps.content_hash


def test_from_canonical_validates_all_at_once():
    c = default_params().to_canonical()
    c["sheets"]["ATRIndicatorsConfig"]["main"]["atr_period"] = 99
    c["sheets"]["MasterConfiguration"]["main"]["trading_mode"] = "SCALPING"
    with pytest.raises(ValidationError) as e:
        ParamSet.from_canonical(c)
    wheres = {i.where for i in e.value.issues}
    assert "ATRIndicatorsConfig!B2" in wheres and "MasterConfiguration!B4" in wheres


def test_track_reads_and_recorder():
    ps = default_params()
    with track_reads() as reads:
        _ = ps.sheet("ATRIndicatorsConfig").atr_period
        _ = ps.table("RegimeClassification")[3].regime_name
    assert ("ATRIndicatorsConfig", "main", None, "atr_period") in reads.reads
    assert ("RegimeClassification", "main", 3, "regime_name") in reads.reads
    unread = {(s, f) for s, _sec, f, _c in reads.unread_used()}
    assert ("ATRIndicatorsConfig", "atr_period") not in unread
    assert ("ATRIndicatorsConfig", "atr_smoothing") in unread
    rec = ReadRecorder()
    _ = ps.with_recorder(rec).sheet("NoiseFiltering").spike_threshold
    assert rec.fields_read() == {("NoiseFiltering", "main", "spike_threshold")}


def test_every_field_is_used_or_explains_why():
    for sh, sec, f in load_schema().iter_fields():
        assert f.consumer or f.unused_reason, f"{sh.name}.{sec.key}.{f.name} has neither consumer nor reason"
        assert sh.group in ("Core", "Indicators", "Regime", "Advanced", "Specialized")


def test_sheet_is_a_mapping_and_section_view():
    ps = default_params()
    risk = dict(ps.sheet("TradingRisk"))
    assert risk["max_order_qty"] == 10000 and risk["daily_loss_action"] == "REDUCING"
    cons = ps.sheet("MultiTimeframeConfig", "consensus_configuration")
    assert set(cons.keys()) == {"consensus_method", "min_timeframes_required", "consensus_threshold",
                                "divergence_penalty", "trend_alignment_bonus"}
    assert cons["min_timeframes_required"] == 3
    with pytest.raises(ParamsError):
        ps.sheet("MultiTimeframeConfig", "main")


def test_every_consumer_is_a_real_module():
    import importlib.util

    consumers = {f.consumer for _sh, _sec, f in load_schema().iter_fields() if f.used}
    missing = sorted(c for c in consumers if importlib.util.find_spec(c) is None)
    assert not missing, f"schema names consumers that do not exist: {missing}"
