"""Fitting the four models of EnsembleMethods on a window of (features, rule-based labels).

HMM (hmmlearn GaussianHMM) and GMM (scikit-learn GaussianMixture) are unsupervised: each hidden state /
component is mapped to regimes by how often it co-occurred with each rule-based label in training
(Laplace-smoothed). Random forest and gradient boosting (scikit-learn) learn the labels directly.
Fit time is bounded: at most MAX_FIT_ROWS rows (an even stride over the window) and fixed iteration
counts. The fitted object is pickled (joblib) by the engine itself; nothing user-supplied is unpickled.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from hmmlearn.hmm import GaussianHMM
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from engine.regime.ensemble.features import N_CONTINUOUS

MAX_FIT_ROWS = 20_000  # rows the models see at most (stride-subsampled): bounds the fit time
MIN_FIT_ROWS = 200  # fewer labelled rows: no model (the rule-based answer stands alone)
MAX_STATES = 8  # hidden states / mixture components (regimes seen, at most this)
HMM_ITER, GMM_ITER, RF_TREES, RF_DEPTH, GB_ITER = 15, 100, 60, 12, 40
STACK_HOLDOUT = 0.2  # STACKING: share of the window (the newest) the meta-learner is fitted on
LAPLACE = 0.5


class EnsembleFitError(Exception):
    """Not enough history to fit the ensemble (says how much there is and how much is needed)."""


@dataclass
class FittedEnsemble:
    regime_ids: tuple[int, ...]
    mean: np.ndarray
    std: np.ndarray
    hmm: GaussianHMM
    hmm_map: np.ndarray  # (states, regimes)
    gmm: GaussianMixture
    gmm_map: np.ndarray
    rf: RandomForestClassifier
    gb: HistGradientBoostingClassifier
    meta: LogisticRegression | None
    data_start: datetime
    data_end: datetime
    n_rows: int
    fit_seconds: float = 0.0
    train_agreement: dict[str, float] = field(default_factory=dict)
    dynamics: dict[str, Any] = field(default_factory=dict)  # engine.regime.dynamics.history_dynamics of the window
    state_occupancy: np.ndarray | None = None  # share of training rows per HMM state

    def scale(self, x: np.ndarray) -> np.ndarray:
        """Standardised continuous features; the previous-label column is kept as it is."""
        return np.column_stack([(x[:, :N_CONTINUOUS] - self.mean) / self.std, x[:, N_CONTINUOUS:]])

    def tree_input(self, xs: np.ndarray) -> np.ndarray:
        """Continuous features plus a one-hot of the previous bar's regime (over the workbook's regimes)."""
        prev = xs[:, N_CONTINUOUS].astype(int)
        onehot = (prev[:, None] == np.asarray(self.regime_ids)[None, :]).astype(float)
        return np.hstack([xs[:, :N_CONTINUOUS], onehot])

    def _onto_regimes(self, proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
        out = np.zeros((proba.shape[0], len(self.regime_ids)))
        col = {r: k for k, r in enumerate(self.regime_ids)}
        for j, c in enumerate(classes):
            out[:, col[int(c)]] = proba[:, j]
        return out

    def static_proba(self, xs: np.ndarray) -> dict[str, np.ndarray]:
        """GMM, random forest, gradient boosting regime probabilities of scaled rows (n, regimes)."""
        t = self.tree_input(xs)
        return {"gmm": self.gmm.predict_proba(xs[:, :N_CONTINUOUS]) @ self.gmm_map,
                "random_forest": self._onto_regimes(self.rf_proba(t), self.rf.classes_),
                "gradient_boost": self._onto_regimes(self.gb_proba(t), self.gb.classes_)}

    def rf_proba(self, t: np.ndarray) -> np.ndarray:
        """The forest's predict_proba (the mean of its trees'), without joblib's per-tree dispatch, which cost
        ~60 ms per live row on a busy machine. Equality with predict_proba is a unit test."""
        x32 = np.ascontiguousarray(t, dtype=np.float32)
        return np.mean([e.predict_proba(x32, check_input=False) for e in self.rf.estimators_], axis=0)

    def gb_proba(self, t: np.ndarray) -> np.ndarray:
        """predict_proba on one thread: its OpenMP start-up per call cost more than a one-row prediction.
        Uses sklearn's _raw_predict(n_threads=...) (pinned version; equality with predict_proba is a unit test)."""
        return self.gb._loss.predict_proba(self.gb._raw_predict(t, n_threads=1))

    def hmm_log_emission(self, xs: np.ndarray) -> np.ndarray:
        var = np.array([np.diag(c) for c in self.hmm.covars_])
        d = xs[:, None, :N_CONTINUOUS] - self.hmm.means_[None, :, :]
        return -0.5 * (np.log(2 * np.pi * var)[None].sum(-1) + (d * d / var[None]).sum(-1))

    def hmm_filter(self, alpha: np.ndarray | None, log_e: np.ndarray) -> np.ndarray:
        """One forward-filter step: P(state_t | rows <= t) from the previous one (None: the start)."""
        prior = self.hmm.startprob_ if alpha is None else alpha @ self.hmm.transmat_
        w = np.exp(log_e - log_e.max()) * prior
        s = w.sum()
        return w / s if s > 0 and np.isfinite(s) else np.full(len(w), 1.0 / len(w))


def _state_map(states: np.ndarray, labels: np.ndarray, n_states: int, regime_ids: tuple[int, ...]) -> np.ndarray:
    col = {r: k for k, r in enumerate(regime_ids)}
    m = np.full((n_states, len(regime_ids)), LAPLACE)
    for s, y in zip(states, labels, strict=True):
        m[int(s), col[int(y)]] += 1.0
    return m / m.sum(axis=1, keepdims=True)


def fit_ensemble(x: np.ndarray, labels: np.ndarray, ts: np.ndarray, regime_ids: tuple[int, ...],
                 stacking: bool = False, seed: int = 0) -> FittedEnsemble:
    """Fit on rows (x, labels) that all precede the bars the result will classify.

    One thread (threadpoolctl): the engine shares its cores with the live cycle, and OpenMP/BLAS
    oversubscription made the fit several times slower on a busy machine."""
    with threadpool_limits(1):
        return _fit(x, labels, ts, regime_ids, stacking, seed)


def _fit(x: np.ndarray, labels: np.ndarray, ts: np.ndarray, regime_ids: tuple[int, ...], stacking: bool,
         seed: int) -> FittedEnsemble:
    n = len(labels)
    if n < MIN_FIT_ROWS:
        raise EnsembleFitError(f"ensemble fit: {n} classified bars, at least {MIN_FIT_ROWS} needed; "
                               "wait for more history")
    t0 = time.perf_counter()
    idx = np.linspace(0, n - 1, min(n, MAX_FIT_ROWS)).round().astype(int)
    idx = np.unique(idx)
    xs_all, ys = x[idx], labels[idx].astype(int)
    mean, std = xs_all[:, :N_CONTINUOUS].mean(axis=0), xs_all[:, :N_CONTINUOUS].std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    xs = np.column_stack([(xs_all[:, :N_CONTINUOUS] - mean) / std, xs_all[:, N_CONTINUOUS:]])
    xc = xs[:, :N_CONTINUOUS]
    k = int(min(MAX_STATES, max(2, len(np.unique(ys)))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of short windows; the iteration cap is the point
        hmm = GaussianHMM(n_components=k, covariance_type="diag", n_iter=HMM_ITER, random_state=seed,
                          min_covar=1e-3)
        hmm.fit(xc)
        gmm = GaussianMixture(n_components=k, covariance_type="diag", max_iter=GMM_ITER, random_state=seed,
                              reg_covar=1e-4).fit(xc)
    n_base = n_fit = len(ys)
    if stacking:
        n_base = max(MIN_FIT_ROWS // 2, int(len(ys) * (1 - STACK_HOLDOUT)))
    xt = np.hstack([xc, (xs[:, N_CONTINUOUS].astype(int)[:, None] == np.asarray(regime_ids)[None, :]).astype(float)])
    rf = RandomForestClassifier(n_estimators=RF_TREES, max_depth=RF_DEPTH, min_samples_leaf=3, n_jobs=1,
                                random_state=seed).fit(xt[:n_base], ys[:n_base])
    # l2_regularization: without it a regime seen a handful of times in 20,000 rows drove the boosting's leaf
    # values to diverge (training agreement 0.37 on 100,000 simulated minutes; 0.99 with it)
    gb = HistGradientBoostingClassifier(max_iter=GB_ITER, max_leaf_nodes=15, l2_regularization=1.0,
                                        early_stopping=False, random_state=seed).fit(xt[:n_base], ys[:n_base])
    fe = FittedEnsemble(regime_ids, mean, std, hmm, _state_map(hmm.predict(xc), ys, k, regime_ids), gmm,
                        _state_map(gmm.predict(xc), ys, k, regime_ids), rf, gb, None,
                        _dt(ts[0]), _dt(ts[-1]), n)
    probs = fe.static_proba(xs)
    fe.state_occupancy = np.bincount(hmm.predict(xc), minlength=k) / len(xc)
    probs["hmm"] = hmm.predict_proba(xc) @ fe.hmm_map  # training fit only (smoothed); live uses the filter
    if stacking and n_fit - n_base >= 20 and len(np.unique(ys[n_base:])) >= 2:
        z = np.hstack([probs[m][n_base:] for m in sorted(probs)])
        fe.meta = LogisticRegression(max_iter=300).fit(z, ys[n_base:])
    ids = np.asarray(regime_ids)
    fe.train_agreement = {m: float((ids[p.argmax(axis=1)] == ys).mean()) for m, p in probs.items()}
    fe.fit_seconds = time.perf_counter() - t0
    return fe


def _dt(v: Any) -> datetime:
    import pandas as pd

    return pd.Timestamp(v).to_pydatetime()
