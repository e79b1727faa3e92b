"""First render time of the Parameters page, server side, with the Overview page as the baseline.

"First render" = what the browser asks the server for when the page opens: the pages router
callback (layout build + JSON) and then every initial callback of the page, in rounds the way
the renderer chains them (a callback whose input was just set by another runs in the next round).
Requests go through Flask's test client with Dash's own payload format, so the figures include
serialisation but not the network or the browser. Also timed: switching to each of the sheets.
The store is a temporary SQLite file with market data, the default version and N more versions.
Run: python -m bench.bench_parameters_page [--rounds 5] [--versions 30]
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from engine import jobs
from engine.cycle import EngineCycle
from engine.params import ParamSet, load_schema
from engine.params.versions import active_params, apply_version
from engine.runtime import build_context
from engine.settings import load_settings


def _walk(node: Any, props: dict[str, dict[str, Any]]) -> None:
    """Collect the props of every component with a string id in a layout JSON tree."""
    if isinstance(node, list):
        for n in node:
            _walk(n, props)
    elif isinstance(node, dict) and "props" in node and "type" in node:
        p = node["props"]
        if isinstance(p.get("id"), str):
            props[p["id"]] = p
        for v in p.values():
            _walk(v, props)


def _outputs(spec: str) -> list[tuple[str, str]]:
    parts = spec.strip(".").split("...") if spec.startswith("..") else [spec]
    return [tuple(p.split("@")[0].rsplit(".", 1)) for p in parts]  # type: ignore[misc]


class PageRender:
    """Replays a page's first render against the Flask app, like the Dash renderer does."""

    def __init__(self, app: Any) -> None:
        self.client = app.server.test_client()
        self.deps = self.client.get("/_dash-dependencies").get_json()
        self.ran: list[str] = []

    def post(self, dep: dict[str, Any], props: dict[str, dict[str, Any]], changed: list[str]) -> dict[str, Any]:
        outs = _outputs(dep["output"])
        outputs: Any = [{"id": i, "property": p} if not i.startswith("{") else [] for i, p in outs]
        payload = {
            "output": dep["output"], "outputs": outputs if dep["output"].startswith("..") else outputs[0],
            "inputs": [self._value(x, props) for x in dep["inputs"]],
            "state": [self._value(x, props) for x in dep["state"]], "changedPropIds": changed,
        }
        r = self.client.post("/_dash-update-component", json=payload)
        if r.status_code == 204:
            return {}
        assert r.status_code == 200, (dep["output"], r.status_code, r.data[:500])
        return r.get_json().get("response", {})

    @staticmethod
    def _value(x: dict[str, str], props: dict[str, dict[str, Any]]) -> Any:
        if x["id"].startswith("{"):
            return []  # pattern-matching inputs: no such components in the first render
        return {"id": x["id"], "property": x["property"], "value": props.get(x["id"], {}).get(x["property"])}

    def first_render(self, path: str) -> tuple[float, int]:
        """Milliseconds for layout + all initial callbacks of `path`, and the number of requests."""
        t0 = time.perf_counter()
        router = next(d for d in self.deps if "_pages_content.children" in d["output"])
        resp = self.post(router, {"_pages_location": {"pathname": path, "search": ""}},
                         ["_pages_location.pathname"])
        props: dict[str, dict[str, Any]] = {}
        _walk(resp["_pages_content"]["children"], props)
        self.ran = []
        n, fresh = 1, set(props)  # every component just appeared: its initial callbacks fire
        pending = [d for d in self.deps if not d.get("prevent_initial_call")]
        for _round in range(4):
            ready = [d for d in pending
                     if all(o[0] in props for o in _outputs(d["output"]) if not o[0].startswith("{"))
                     and any(not x["id"].startswith("{") for x in d["inputs"])
                     and all(x["id"] in props for x in d["inputs"] if not x["id"].startswith("{"))
                     and any(x["id"] in fresh for x in d["inputs"])]
            if not ready:
                break
            fresh = set()
            for d in ready:
                out = self.post(d, props, [f"{x['id']}.{x['property']}" for x in d["inputs"]])
                self.ran.append(_outputs(d["output"])[0][0])
                n += 1
                for cid, values in out.items():
                    if cid in props:
                        props[cid].update(values)
                        fresh.add(cid)
                        _walk(list(values.values()), props)
            pending = [d for d in pending if d not in ready] + [d for d in ready if any(
                x["id"] in fresh for x in d["inputs"])]
        return (time.perf_counter() - t0) * 1000, n

    def switch_sheet(self, sheet: str, base: dict[str, Any]) -> float:
        dep = next(d for d in self.deps if d["output"] == "parameters-editor.children")
        props = {"parameters-sheet": {"data": sheet}, "parameters-base": {"data": base},
                 "parameters-edits": {"data": {}}, "parameters-upload-data": {"data": None},
                 "parameters-discard": {}}
        t0 = time.perf_counter()
        self.post(dep, props, ["parameters-sheet.data"])
        return (time.perf_counter() - t0) * 1000


def prepare(db: Path, n_versions: int) -> Any:
    """A store with bars, snapshots, the default version and n_versions more (as the web would apply)."""
    settings = load_settings(database_url=f"sqlite:///{db}", warmup_polls=300)
    ctx = build_context(settings, with_source=True, migrate=True)
    cycle = EngineCycle()
    jobs.heartbeat(ctx)
    jobs.ensure_instruments(ctx)
    jobs.resume_source(ctx, settings.warmup_polls)
    cycle.startup(ctx)
    for _ in range(20):
        cycle.market(ctx)
        cycle.account(ctx)
    with ctx.store.read() as s:
        ps = active_params(s)
    for i in range(n_versions):
        canon = ps.to_canonical()
        canon["sheets"]["ATRIndicatorsConfig"]["main"]["atr_period"] = 7 + i % 14
        canon["sheets"]["MasterConfiguration"]["main"]["accuracy_vs_stability"] = round(0.5 + (i % 5) / 10, 2)
        apply_version(ctx.store, ParamSet.from_canonical(canon), "bench", "ui", f"bench version {i}")
    return settings


def line(label: str, ms: list[float], extra: str = "") -> str:
    return f"{label:<44} median {statistics.median(ms):8.1f} ms   max {max(ms):8.1f} ms   n={len(ms)} {extra}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--versions", type=int, default=30)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    from app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        settings = prepare(Path(tmp) / "bench.db", args.versions)
        print(f"store prepared in {time.perf_counter() - t0:.1f} s ({args.versions + 1} parameter versions)")
        app = create_app(settings)
        page = PageRender(app)
        results: dict[str, list[float]] = {"/": [], "/parameters": []}
        requests: dict[str, int] = {}
        for path in results:
            ms, _n = page.first_render(path)
            print(f"{'cold (first request of the process) ' + path:<44} {ms:8.1f} ms   callbacks run: "
                  + ", ".join(page.ran))
        for _ in range(args.rounds):
            for path in results:  # alternate so both see the same machine load
                ms, n = page.first_render(path)
                results[path].append(ms)
                requests[path] = n
        print(line("Overview first render (baseline)", results["/"], f"({requests['/']} requests)"))
        print(line("Parameters first render", results["/parameters"], f"({requests['/parameters']} requests)"))
        ratio = statistics.median(results["/parameters"]) / statistics.median(results["/"])
        print(f"{'ratio Parameters / Overview (medians)':<44} {ratio:.2f}x")
        schema_sheets = [sh.name for sh in load_schema().sheets]
        with app.server.app_context():
            from webapp.param_views import active_ref

            base = active_ref(app.server.extensions["regimedesk"].store)
        page.switch_sheet(schema_sheets[0], base)  # warm
        switch = {sh: page.switch_sheet(sh, base) for sh in schema_sheets}
        worst = max(switch, key=switch.get)  # type: ignore[arg-type]
        print(f"{'switch sheet (render one sheet), 32 sheets':<44} median {statistics.median(switch.values()):8.1f} ms"
              f"   max {switch[worst]:8.1f} ms ({worst})")
        print(json.dumps({"overview_ms": results["/"], "parameters_ms": results["/parameters"]}))


if __name__ == "__main__":
    main()
