"""The Planner page's preview callback, timed against a no-op callback in the same run, both through Dash's
callback route (Flask test client, a logged-in viewer: the auth guard, JSON in and out, the callback body).

The preview callback runs on every interval tick, slider move and preset pick. The store is a temporary SQLite
file (60 symbols x 300 daily closes, 30 positions opened through the paper broker and synced):
- no-op: a callback that returns no_update (the floor: what any callback request costs);
- unchanged: an interval tick when nothing changed (store stamp + preset hash, answers no_update);
- cached: the key differs from the one on screen but the plan is cached (another tab, a slider moved back);
- uncached: the cache is cleared first, so the portfolio is read and the plan made (a real input change).
Run: python -m bench.bench_planner_page [--repeat 15]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

from dash import Input, Output, no_update

from bench._util import summary, timings_ms
from tests import web_requests as wr

SLIDER = '{"name":["ALL"],"type":"planner-slider"}'
SWITCH = '{"name":["ALL"],"type":"planner-switch"}'


def add_noop_callback(app: Any) -> None:
    """A callback that does nothing, declared like any other (the guard refuses undeclared ones)."""
    from engine.auth.roles import Role
    from webapp.auth.access import requires


    @app.callback(Output("bench-noop-out", "children"), Input("bench-noop-in", "n_clicks"), prevent_initial_call=True)
    @requires(Role.VIEWER)
    def noop(_n: int | None) -> object:
        return no_update


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--symbols", type=int, default=60)
    parser.add_argument("--positions", type=int, default=30)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from engine.planner import api
    from engine.settings import load_settings
    from tests.auth_helpers import login_client
    from tests.planner_page_fixtures import seeded_app
    from webapp.cache import cache

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", engine_mode="none")
        app, ctx = seeded_app(settings, held=args.positions, symbols=args.symbols)
        add_noop_callback(app)
        client = login_client(app, "viewer")
        deps = wr.dependencies(client)
        preview = wr.find(deps, "planner-plan.children")
        noop_dep = wr.find(deps, "bench-noop-out.children")
        default = api.load_preset("default")
        flat = default.to_flat()
        switches = [k for k, v in flat.items() if isinstance(v, bool)]
        values: dict[str, Any] = {
            "planner-preset.value": "default", "planner-interval.n_intervals": 1,
            f"{SLIDER}.value": wr.Matches(({"name": s.name}, default.sliders[s.name]) for s in api.SLIDERS),
            f"{SWITCH}.value": wr.Matches(({"name": k}, flat[k]) for k in switches),
            f"{SWITCH}.id": wr.Matches(({"name": k}, {"type": "planner-switch", "name": k}) for k in switches),
            "planner-preview-key.data": None,
        }

        def post(dep: dict[str, Any], named: dict[str, Any], trigger: str) -> dict[str, Any]:
            response = wr.call(client, dep, named, trigger=trigger)
            assert response.status_code in (200, 204), (response.status_code, response.get_data(as_text=True)[:300])
            return response.get_json() if response.status_code == 200 else {}

        first = post(preview, values, "planner-interval.n_intervals")
        shown = {**values, "planner-preview-key.data": first["response"]["planner-preview-key"]["data"]}

        def uncached() -> object:
            with app.server.app_context():
                cache.clear()
            return post(preview, values, "planner-interval.n_intervals")

        cases = (("no-op", lambda: post(noop_dep, {"bench-noop-in.n_clicks": 1}, "bench-noop-in.n_clicks"), 100),
                 ("unchanged", lambda: post(preview, shown, "planner-interval.n_intervals"), args.repeat),
                 ("cached", lambda: post(preview, values, "planner-interval.n_intervals"), args.repeat),
                 ("uncached", uncached, args.repeat))
        results = {name: summary(timings_ms(fn, repeat)) for name, fn, repeat in cases}
        ctx.store.dispose()

    base, full = results["no-op"][0], results["uncached"][0]
    print(f"Planner preview callback over HTTP, {args.symbols} symbols x 300 closes, {args.positions} positions, "
          f"preset default, {args.repeat} runs each (median / p95 ms)")
    for name, (median, p95) in results.items():
        print(f"  {name:<10} {median:9.2f} / {p95:9.2f} ms   x{median / base:7.1f} the no-op   "
              f"{median / full:6.1%} of uncached")


if __name__ == "__main__":
    main()
