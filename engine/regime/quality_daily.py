"""Volatility-axis quality on real daily index data (issue 15 point 5): how many trading days after a
short stress episode starts the volatility class first reads High, and the share of calm years' days
read High. Used by bench/bench_regime_quality.py and tests/integration/test_regime_quality.py on the
S&P 500 daily bars that ship with the arch package (1999-2018).

Episodes (named windows of the S&P 500 sell-offs of 2011-2018; the start is taken from the data: the
first day in the window whose close-to-close loss is at least EPISODE_DROP):
Aug 2011 (US downgrade), Aug 2015 (yuan devaluation), Jan 2016 (oil / China), Feb 2018 (volmageddon),
Oct 2018 and Dec 2018 (rates / trade sell-offs). Calm years: 2005, 2013, 2017 (no daily loss of 3 %).
"Bar class" = the bar's own volatility class (candidate regime: thresholds + hysteresis); "adopted" =
the class of the regime the stability rules adopted (what the page and the engine act on).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.formation import Formation
from engine.regime.replay import replay

EPISODE_DROP = 0.02  # a close-to-close loss of 2 % opens an episode
EPISODES: dict[str, tuple[str, str]] = {
    "Aug 2011": ("2011-07-20", "2011-08-31"),
    "Aug 2015": ("2015-08-10", "2015-09-10"),
    "Jan 2016": ("2016-01-01", "2016-02-15"),
    "Feb 2018": ("2018-01-26", "2018-02-28"),
    "Oct 2018": ("2018-10-01", "2018-10-31"),
    "Dec 2018": ("2018-12-01", "2018-12-31"),
}
CALM_YEARS = (2005, 2013, 2017)


@dataclass(frozen=True, slots=True)
class EpisodeResult:
    name: str
    start: str
    bar_days: int | None  # trading days from the start to the first High bar class (None: never in the window)
    adopted_days: int | None


@dataclass(frozen=True, slots=True)
class DailyQuality:
    episodes: tuple[EpisodeResult, ...]
    calm_high_share: dict[int, float]  # year -> share of days whose adopted volatility class is High
    calm_bar_high_share: dict[int, float]

    def lines(self) -> list[str]:
        def d(x: int | None) -> str:
            return "never" if x is None else f"{x} d"
        out = [f"{e.name:9s} start {e.start}: High after {d(e.bar_days)} (bar class), {d(e.adopted_days)} (adopted)"
               for e in self.episodes]
        out += [f"calm {y}: {self.calm_high_share[y]:.1%} of days High (adopted), "
                f"{self.calm_bar_high_share[y]:.1%} (bar class)" for y in self.calm_high_share]
        return out


def daily_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """arch.data.sp500.load() (Date index, Open/High/Low/Close/Volume) -> replay input, closes at 16:00 New York."""
    ts = pd.DatetimeIndex(raw.index).tz_localize("America/New_York") + pd.Timedelta(hours=16)
    return pd.DataFrame({"timestamp": ts, "open": raw["Open"].to_numpy(float), "high": raw["High"].to_numpy(float),
                         "low": raw["Low"].to_numpy(float), "close": raw["Close"].to_numpy(float),
                         "volume": raw["Volume"].to_numpy(float)})


def measure(bars: pd.DataFrame, params: ParamSet, out: pd.DataFrame | None = None) -> DailyQuality:
    """Replay the daily bars (unless ``out`` is that replay) and measure episodes and calm years."""
    out = replay(bars, params, symbol="SPX") if out is None else out
    f = Formation(params)
    top = f.vol[-1].name
    cand_vol = out["candidate_regime_id"].map({r.regime_id: r.vol_class for r in f.regimes}).fillna("")
    day = pd.DatetimeIndex(bars["timestamp"]).tz_convert("America/New_York").normalize().tz_localize(None)
    close = bars["close"].to_numpy(float)
    ret = np.r_[np.nan, close[1:] / close[:-1] - 1.0]
    bar_high = (cand_vol == top).to_numpy()
    adopted_high = (out["volatility_class_name"] == top).to_numpy()
    eps = []
    for name, (a, b) in EPISODES.items():
        idx = np.flatnonzero((day >= pd.Timestamp(a)) & (day <= pd.Timestamp(b)))
        drops = [int(i) for i in idx if ret[i] <= -EPISODE_DROP]
        if not drops:
            raise ValueError(f"episode {name}: no daily loss of {EPISODE_DROP:.0%} between {a} and {b}")
        s = drops[0]
        end = int(idx[-1])
        eps.append(EpisodeResult(name, str(day[s].date()), _first(bar_high, s, end), _first(adopted_high, s, end)))
    years = day.year
    calm = {y: float(adopted_high[years == y].mean()) for y in CALM_YEARS}
    calm_bar = {y: float(bar_high[years == y].mean()) for y in CALM_YEARS}
    return DailyQuality(tuple(eps), calm, calm_bar)


def _first(flag: np.ndarray, start: int, end: int) -> int | None:
    hit = np.flatnonzero(flag[start:end + 1])
    return int(hit[0]) if len(hit) else None


def transitions_band(ps: ParamSet) -> tuple[float, float, float]:
    """(low, target, high) transitions per session: PerformanceMetrics daily_transitions target +- (target - acceptable)."""
    row = next(r for r in Parameters(ps).performance_metrics.rows if r.metric == "daily_transitions")
    width = abs(float(row.target) - float(row.acceptable))
    return float(row.target) - width, float(row.target), float(row.target) + width
