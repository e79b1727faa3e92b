"""Parameter workbook benchmark: import + full validation vs a bare python-calamine read, and export.

Run: python bench/bench_params.py [--repeat N]. Prints medians of N runs measured in this run.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from python_calamine import CalamineWorkbook  # noqa: E402

from engine.params import default_params, load_schema  # noqa: E402
from engine.params.exporter import export_workbook  # noqa: E402
from engine.params.importer import import_grid  # noqa: E402
from engine.params.safety import precheck, read_grid  # noqa: E402
from engine.params.testing import REFERENCE  # noqa: E402
from engine.params.workbook import import_workbook  # noqa: E402


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (imports, schema cache)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    n = ap.parse_args().repeat
    data = REFERENCE.read_bytes()
    load_schema()

    def bare() -> object:
        wb = CalamineWorkbook.from_path(str(REFERENCE))
        return [wb.get_sheet_by_name(s).to_python() for s in wb.sheet_names]

    def full_in_process() -> object:
        res = import_workbook(REFERENCE, sandbox=False)  # pre-check + read + map + validate
        assert res.ok
        return res

    grid = read_grid(data)
    steps = {"bare": bare, "pre": lambda: precheck(data), "read": lambda: read_grid(data),
             "map": lambda: import_grid(grid), "full": full_in_process}
    for fn in steps.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in steps}
    ratios = []
    for _ in range(n):  # interleaved, so load from other processes hits baseline and import alike
        for k, fn in steps.items():
            gc.collect()  # no garbage left by one step is collected on the next step's clock
            t = time.process_time()  # CPU time: the machine is shared, wall time swings with other load
            fn()
            times[k].append((time.process_time() - t) * 1000)
        ratios.append(times["full"][-1] / times["bare"][-1])
    base, t_pre, t_read, t_map, t_full = (statistics.median(times[k]) for k in steps)
    t_sandbox = median_ms(lambda: import_workbook(REFERENCE, sandbox=True), max(3, n // 3))
    ps = default_params()
    t_export = median_ms(lambda: export_workbook(ps), max(3, n // 3))
    print(f"reference workbook: {REFERENCE.name}, {len(data)} bytes, median of {n} runs")
    print(f"bare python-calamine read (all sheets)      {base:8.1f} ms   (baseline)")
    print(f"  pre-check (zip, sizes, macros, DTD, refs) {t_pre:8.1f} ms")
    print(f"  calamine read, grid with blanks           {t_read:8.1f} ms")
    print(f"  map + coerce + full validation            {t_map:8.1f} ms")
    print(f"import + full validation, in process        {t_full:8.1f} ms   ratio {statistics.median(ratios):.2f}x "
          "(CPU time, median of paired runs; goal <= 3x)")
    best = min(times["full"]) / min(times["bare"])  # timeit's advice: the minimum is the run least disturbed
    print(f"  same, best run of each                                 ratio {best:.2f}x")
    print(f"read + map + validation (no pre-check)      {t_read + t_map:8.1f} ms   ratio {(t_read + t_map) / base:.2f}x")
    print(f"import + validation, sandboxed child        {t_sandbox:8.1f} ms   ratio {t_sandbox / base:.2f}x "
          "(upload path: + process start)")
    print(f"export (openpyxl)                           {t_export:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
