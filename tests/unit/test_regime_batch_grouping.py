"""Batch replay shortcuts that must not change a value: formation rule scores by table lookup, and the
reason texts formatted once per group of rows that print alike (engine/regime/batch/vectors.py, machine.py).

The live functions are the oracle: Formation.rule_score row by row, tables.reason row by row.
"""
from __future__ import annotations

import numpy as np
import pytest

from engine.params import default_params
from engine.regime.batch import machine, tables
from engine.regime.batch import vectors as vx
from engine.regime.classifier import RegimeClassifier

PS = default_params()


@pytest.mark.parametrize("m", range(1, 15))
def test_quotient_table_equals_the_division(m: int) -> None:
    """Every (true, known) pair: the table holds true / known as Python divides it (0.0 when none is known)."""
    q = vx._quotients(m)
    for t in range(m):
        for k in range(m):
            want = t / k if k else 0.0
            assert q[t * m + k] == want and np.signbit(q[t * m + k]) == np.signbit(want)


@pytest.mark.parametrize("mirror", [False, True])
def test_rule_scores_equal_the_live_rule_score(mirror: bool) -> None:
    """vectors.rule_score per row = Formation.rule_score on that row's environment (unknown variables included;
    mirrored: the live function negates the directional variables itself)."""
    f = RegimeClassifier(PS).formation
    rng = np.random.default_rng(3)
    n = 400
    variables = sorted({c.var for r in f.rules for c in r.conditions})
    env: vx.Env = {}
    for var in variables:
        known = rng.random(n) < 0.8
        if var == "volume_profile":
            vals = rng.choice(np.array(["balanced", "above_value", "below_value"], dtype=object), n)
        else:
            vals = np.round(rng.normal(scale=50.0 if var == "atr_percentile" else 0.01, size=n), 3)
        env[var] = (vals, known)
    assert f.rules
    for rule in f.rules:
        score, known = vx.rule_score(rule, env, n, mirror)
        for k in range(n):
            row = {var: (v[k] if kn[k] else None) for var, (v, kn) in env.items()}
            want, n_known = f.rule_score(rule, row, mirror)
            assert (score[k], int(known[k])) == (want, n_known), (rule.rule_id, k)


def test_grouped_reasons_equal_the_text_of_every_row() -> None:
    """machine.reasons: the text each row gets = tables.reason on that row's own numbers, for every code."""
    clf = RegimeClassifier(PS)
    tb = tables.build(clf)
    rng = np.random.default_rng(5)
    n = 3000
    code = rng.integers(0, 17, n)
    raw, dec = rng.normal(scale=300.0, size=n), rng.integers(0, 4, n)
    ra = np.choose(dec, [np.round(raw, d) for d in range(4)])  # ties at .5 and whole numbers included
    ra[rng.random(n) < 0.05] += 0.005
    ra[rng.random(n) < 0.02] = -0.0
    rb = np.round(rng.random(n) * 500.0, 1)
    cur = rng.integers(0, len(tb.regs), n)
    width = {tables.R_CONF: len(tb.rule_names), tables.R_SIGNALS: len(tb.rule_names)}
    cix = np.array([rng.integers(0, width.get(c, len(tb.notes))) for c in code.tolist()], np.int64)
    confirm = (code == tables.R_CONFIRM) | (code == tables.R_SIGNALS)  # counts: whole numbers
    ra[confirm], rb[confirm] = np.abs(np.round(ra[confirm])), np.round(rb[confirm])
    gap = np.where(code == tables.R_GAP, rng.random(n) * 90.0, np.nan)
    got = machine.reasons(clf, tb, code, ra, rb, cix, cur, gap)
    for k in range(n):
        c = int(code[k])
        extra = f"data gap of {gap[k]:.0f} min (MissingDataCheck): regime held" if c == tables.R_GAP else ""
        want = tables.reason(clf, tb, c, float(ra[k]), float(rb[k]), int(cix[k]), int(cur[k]), extra)
        assert got.table[got.codes[k]] == want, (k, c)
    assert len(got.table) < n  # grouped, not one text per row
