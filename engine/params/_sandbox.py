"""Child-process reader for untrusted workbooks: stdin = .xlsx bytes, stdout = JSON grid.

Run as a script (`python -I _sandbox.py MEMORY_MB`), not imported: it must not depend on the
app's __main__ or on engine imports, so a reader crash or abort only kills this process.
"""
import io
import json
import resource
import sys
from datetime import date, datetime, time, timedelta


def _enc(v):
    if isinstance(v, datetime):
        return {"$t": "datetime", "v": v.isoformat()}
    if isinstance(v, date):
        return {"$t": "date", "v": v.isoformat()}
    if isinstance(v, time):
        return {"$t": "time", "v": v.isoformat()}
    if isinstance(v, timedelta):
        return {"$t": "timedelta", "v": v.total_seconds()}
    return v


def main() -> int:
    mem = int(sys.argv[1]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    data = sys.stdin.buffer.read()
    try:
        from python_calamine import CalamineWorkbook

        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        grid = {n: [[_enc(c) for c in row] for row in wb.get_sheet_by_name(n).to_python(skip_empty_area=False)]
                for n in wb.sheet_names}
    except MemoryError:
        sys.stderr.write("ran out of memory while reading")
        return 3
    except Exception as e:  # calamine's own error types: report their text
        sys.stderr.write(f"{type(e).__name__}: {e}"[:300])
        return 2
    sys.stdout.write(json.dumps(grid, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
