"""Child-process reader for untrusted workbooks: stdin = .xlsx bytes, stdout = JSON grid.

Run as a script (`python -I _sandbox.py MEMORY_MB [MAX_GRID_CELLS MAX_TEXT_CHARS]`), not imported: it must not
depend on the app's __main__ or on engine imports, so a reader crash or abort only kills this process.

Why the grid bounds: a small file can make a huge grid (one long shared string referenced by every cell of a
sheet: 0.9 MB on disk, 450 MB of JSON); RLIMIT_AS only protects this process, the parent would json.loads it all.
Both bounds are checked before any grid is built, so a refusal (exit 4, the reason on stderr) hands back nothing.
"""
import io
import json
import resource
import sys
from datetime import date, datetime, time, timedelta

OVER_LIMIT = 4  # exit code: the workbook exceeds a grid bound; stderr holds the message for the user


class OverLimit(Exception):
    """The parsed grid would exceed a bound; the message names the limit and the sheet."""


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


def check_bounds(wb, max_cells, max_text):
    """Refuse (OverLimit) before materialising any grid: cells of the grids as read (blanks included, summed over
    sheets) and characters of text (summed), one row at a time so the check itself stays small."""
    cells = chars = 0
    for name in wb.sheet_names:
        sheet = wb.get_sheet_by_name(name)
        end = sheet.end
        cells += (end[0] + 1) * (end[1] + 1) if end else 0
        if cells > max_cells:
            raise OverLimit(f"sheet {name[:40]!r} brings the workbook to {cells:,} cells, above the limit of "
                            f"{max_cells:,} cells; a parameter workbook has a few thousand: delete the stray cells")
        for row in sheet.iter_rows():
            chars += sum(len(v) for v in row if isinstance(v, str))
            if chars > max_text:
                raise OverLimit(f"sheet {name[:40]!r} brings the workbook's text above the limit of {max_text:,} "
                                "characters; a parameter workbook has about 35,000: delete the long texts")


def main() -> int:
    mem = int(sys.argv[1]) * 1024 * 1024
    max_cells = int(sys.argv[2]) if len(sys.argv) > 2 else 500_000
    max_text = int(sys.argv[3]) if len(sys.argv) > 3 else 5_000_000
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    data = sys.stdin.buffer.read()
    try:
        from python_calamine import CalamineWorkbook

        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        check_bounds(wb, max_cells, max_text)
        grid = {n: [[_enc(c) for c in row] for row in wb.get_sheet_by_name(n).to_python(skip_empty_area=False)]
                for n in wb.sheet_names}
    except OverLimit as e:
        sys.stderr.write(str(e))
        return OVER_LIMIT
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
