"""`python -m engine params ...`: validate, import, export, diff, list and roll back parameter versions.

For traders who keep workbooks in their own version control: exit codes are scriptable
(0 ok, 1 invalid/refused/not found, 2 usage) and problems print as `Sheet!Cell: message`.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from engine.settings import load_settings
from engine.store.migrate import open_store

from .diff import diff_params
from .errors import ANY_PARENT, ParamsError
from .exporter import export_workbook
from .importer import ImportResult
from .onto_base import onto_base
from .paramset import default_params
from .safety import UploadLimits
from .version_rollback import rollback_with_report
from .versions import (
    active_params,
    apply_version,
    get_version,
    get_version_unchecked,
    list_versions,
    record_export,
)
from .workbook import import_workbook


def _limits() -> UploadLimits:
    try:
        return UploadLimits.from_schema(max_upload_bytes=load_settings().max_upload_bytes)
    except Exception:  # noqa: BLE001 - settings problems must not stop an offline validate
        return UploadLimits.from_schema()


def _store() -> Any:
    return open_store(load_settings().database_url, migrate=True)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli:unknown"


def _import(path: str) -> ImportResult:
    return import_workbook(path, limits=_limits())


def _print_result(path: str, res: ImportResult) -> None:
    for i in res.report.errors:
        print(str(i))
    for i in res.report.warnings:
        print(f"{i.where}: warning: {i.message}" + (f"; {i.fix}" if i.fix else ""))
    status = "valid" if res.ok else f"INVALID ({len(res.report.errors)} problems; nothing was changed)"
    print(f"{path}: {status}")
    for line in res.report.summary_lines():
        print(f"  {line}")


def cmd_validate(a: argparse.Namespace) -> int:
    res = _import(a.file)
    _print_result(a.file, res)
    return 0 if res.ok else 1


def cmd_import(a: argparse.Namespace) -> int:
    """Validate and apply, onto the active version: what the file lacks keeps that version's values (onto_base)."""
    res = _import(a.file)
    _print_result(a.file, res)
    if not res.ok or res.paramset is None:
        return 1
    store = _store()
    with store.read() as s:
        base = get_version_unchecked(s, None)[0]
    staged = onto_base(res, base)
    if staged.paramset is None:
        for issue in staged.errors:
            print(f"error: {issue}")
        print(f"{a.file}: with the parts it lacks kept from version {base.version_id} the set is not valid; nothing applied")
        return 1
    if staged.kept:
        print(f"kept from the active version {base.version_id} (not in the file): {', '.join(staged.kept)}")
    ps = apply_version(store, staged.paramset, _actor(), "cli", a.note or f"imported {Path(a.file).name}",
                       expected_parent=base.version_id)
    print(f"active parameter version: {ps.version_id} (content {ps.content_hash[:12]})")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    store = None
    if a.template:
        ps = default_params()
    else:
        store = _store()
        with store.read() as s:
            ps = get_version(s, a.version) if a.version is not None else active_params(s)
    export_workbook(ps, a.out)
    if store is not None:
        record_export(store, _actor(), ps.version_id, str(a.out))
    what = "default template" if a.template else f"version {ps.version_id or '(defaults)'}"
    print(f"wrote {what} to {a.out}")
    return 0


def _load_side(store_box: list[Any], ref: str) -> Any:
    """A diff side: an existing file path, or a version number."""
    if Path(ref).exists() or ref.lower().endswith((".xlsx", ".xlsm", ".xls")):
        res = _import(ref)
        if not res.ok or res.paramset is None:
            for i in res.report.errors:
                print(str(i))
            raise ParamsError(f"{ref} is not a valid parameter workbook ({len(res.report.errors)} problems)")
        return res.paramset
    try:
        vid = int(ref)
    except ValueError:
        raise ParamsError(f"{ref!r} is neither a workbook file nor a version number") from None

    if not store_box:
        store_box.append(_store())
    with store_box[0].read() as s:
        return get_version(s, vid)


def cmd_diff(a: argparse.Namespace) -> int:
    box: list[Any] = []
    left, right = _load_side(box, a.a), _load_side(box, a.b)
    changes = diff_params(left, right)
    for c in changes:
        print(str(c))
    print(f"{len(changes)} difference{'s' if len(changes) != 1 else ''} between {a.a} and {a.b}")
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    with _store().read() as s:
        for v in list_versions(s, a.limit):
            mark = "*" if v.is_active else " "
            print(f"{mark} {v.id:>5}  {v.created_at:%Y-%m-%d %H:%M}  {v.source:<8} {v.author:<20} "
                  f"{v.changes:>4} changes  {v.note}")
    return 0


def cmd_rollback(a: argparse.Namespace) -> int:
    """Roll back; with --if-active M only while version M is still the active one (a script that decided on M
    must not undo a version applied since: refused and audited, exit 1)."""
    store = _store()
    with store.read() as s:
        replaced = get_version_unchecked(s, None)[0].version_id
    expected = a.if_active if a.if_active is not None else ANY_PARENT
    ps, kept = rollback_with_report(store, a.version, _actor(), a.note or "", expected_parent=expected)
    if kept:
        print(f"kept from the active version {replaced} (version {a.version} lacks them): {', '.join(kept)}")
    print(f"active parameter version: {ps.version_id} (equal to version {a.version}; it replaced version {replaced})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine params", description="Strategy parameter workbooks")
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check a workbook; one line per problem as Sheet!Cell: message")
    v.add_argument("file")
    v.set_defaults(fn=cmd_validate)
    i = sub.add_parser("import", help="validate and apply a workbook as the new active version")
    i.add_argument("file")
    i.add_argument("--note", default="")
    i.set_defaults(fn=cmd_import)
    e = sub.add_parser("export", help="write the active (or --version N, or --template) parameters as .xlsx")
    e.add_argument("--version", type=int)
    e.add_argument("--template", action="store_true", help="the default template instead of a stored version")
    e.add_argument("--out", required=True)
    e.set_defaults(fn=cmd_export)
    d = sub.add_parser("diff", help="differences between two workbooks and/or version numbers")
    d.add_argument("a")
    d.add_argument("b")
    d.set_defaults(fn=cmd_diff)
    ls = sub.add_parser("list", help="version history")
    ls.add_argument("--limit", type=int, default=50)
    ls.set_defaults(fn=cmd_list)
    r = sub.add_parser("rollback", help="make a new version equal to version N")
    r.add_argument("version", type=int)
    r.add_argument("--note", default="")
    r.add_argument("--if-active", type=int, metavar="M",
                   help="only if version M is the active version now (refused and audited otherwise)")
    r.set_defaults(fn=cmd_rollback)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        a = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:  # argparse exits 2 on usage errors, 0 on --help
        return int(e.code or 0)
    try:
        return int(a.fn(a))
    except ParamsError as e:
        print(f"error: {e}")
        return 1
