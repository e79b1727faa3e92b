"""Cost of login and of the guard (login session, CSRF, Host, role of the callback) on a callback.

Two copies of the real app on one SQLite store: one as shipped, one with the guard's before-request
hook removed (the same callbacks, no checks). Calls alternate between the two so machine noise hits
both alike; the ratio of medians is the guard's cost (goal: under 1.2x).

Run: python -m bench.bench_auth [--repeat 400]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from bench._util import summary
from tests import web_requests as wr
from tests.auth_helpers import PASSWORDS, csrf_from, login_client

CALLBACKS = {
    "banner refresh (reads the trading state)": ("..banner-state.children...banner-box.className..", None),
    "kill dialog toggle (pure, no store)": ("banner-kill-modal.is_open", None),
}


def _apps(db_url: str) -> tuple[Any, Any]:
    from app import create_app
    from engine.settings import load_settings

    settings = load_settings(database_url=db_url, warmup_polls=30, deadman_seconds=0)
    guarded = create_app(settings, start_engine=False)
    bare = create_app(settings, start_engine=False)
    funcs = bare.server.before_request_funcs.get(None, [])
    bare.server.before_request_funcs[None] = [f for f in funcs if f.__name__ != "guard"]
    return guarded, bare


def _paired(fn_a: Any, fn_b: Any, repeat: int) -> tuple[list[float], list[float]]:
    a, b = [], []
    for i in range(repeat + 10):
        for fn, out in ((fn_a, a), (fn_b, b)) if i % 2 else ((fn_b, b), (fn_a, a)):
            t0 = time.perf_counter()
            fn()
            if i >= 10:  # warm-up
                out.append((time.perf_counter() - t0) * 1000)
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        guarded, bare = _apps(f"sqlite:///{tmp}/bench.db")
        g_client = login_client(guarded, "admin")
        b_client = bare.server.test_client()
        b_client.get("/")
        deps = {d["output"]: d for d in wr.dependencies(g_client)}
        print(f"{'callback':44} {'guarded ms':>11} {'bare ms':>9} {'ratio':>6}  (median of {args.repeat}, paired)")
        for label, (output, _values) in CALLBACKS.items():
            body = wr.build_body(deps[output], {0: 1})

            def call_guarded(body: dict = body) -> None:
                assert g_client.post(wr.CALLBACK_URL, json=body).status_code in (200, 204)

            def call_bare(body: dict = body) -> None:
                assert b_client.post(wr.CALLBACK_URL, json=body).status_code in (200, 204)

            g, b = _paired(call_guarded, call_bare, args.repeat)
            gm, bm = statistics.median(g), statistics.median(b)
            print(f"{label:44} {gm:11.3f} {bm:9.3f} {gm / bm:6.2f}x")
        # login round trip: GET /login (form + CSRF token), POST /login; against one argon2id verification
        from engine.auth.passwords import hash_password, verify

        stored = hash_password(PASSWORDS["admin"])
        verify_ms = [0.0] * 0
        logins = []
        for _ in range(20):
            t0 = time.perf_counter()
            verify(stored, PASSWORDS["admin"])
            verify_ms.append((time.perf_counter() - t0) * 1000)
            client = guarded.server.test_client()
            t0 = time.perf_counter()
            token = csrf_from(client.get("/login").get_data(as_text=True))
            response = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                                   "csrf_token": token})
            logins.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 302
        lm, lp = summary(logins)
        vm, _ = summary(verify_ms)
        print(f"login round trip (GET form + POST): median {lm:.1f} ms, p95 {lp:.1f} ms; one argon2id verify "
              f"{vm:.1f} ms -> {lm / vm:.2f}x the hash itself")


if __name__ == "__main__":
    main()
