"""Strategy parameters: one schema (config/parameters/schema.json), typed immutable versions.

Engine code reads parameters through the typed views generated from the schema (engine/params/typed.py),
so a type checker proves every read and "who reads X" is "find the uses of its property"::

    from engine.params.typed import Parameters

    params = Parameters(ps)
    params.atr_indicators_config.atr_period     # 14 (int)
    params.regime_classification.volatility_thresholds[0].max_value   # 0.12 (float)

Underneath, and for generic code (the editor, the importer), the ParamSet API (engine modules outside
engine/params may not call it: tests/unit/test_params_no_string_reads.py scans for .sheet/.table/kv calls)::

    from engine.params import default_params, track_reads

    ps = default_params()                       # or versions.active_params(session)
    atr = ps.sheet("ATRIndicatorsConfig")
    atr.atr_period                              # 14 (int)
    ps.sheet("MasterConfiguration").market_open_time   # datetime.time(9, 15)
    for r in ps.table("RegimeClassification"):  # main table; rows are immutable
        r.regime_id, r.regime_name, r.volatility_class, r.min_duration, r.color
    ps.table("RegimeClassification", "volatility_thresholds")[0].max_value   # 0.12
    ps.version_id, ps.content_hash, ps.to_canonical()

    with track_reads() as reads:                # consumption honesty
        run_engine_cycle(ps)
    assert not reads.unread_used()              # every field marked "used" was read
    # in other threads: ps.with_recorder(rec) records into `rec` explicitly

Errors are ParamsError subclasses; ValidationError.issues lists every problem with Sheet!Cell.

Around the runtime API (import by module path; none of these import Dash):
    workbook.import_workbook(bytes|path) -> ImportResult(.paramset, .report)   pre-check + sandboxed read
    exporter.export_workbook(ps, out=None) / export_template()                  .xlsx bytes, reference layout
    versions.apply_version / active_params / active_version_id / list_versions /
             get_version / diff_versions / rollback / ensure_default_version / record_export
    diff.diff_params(a, b) -> [Change(sheet, cell, field, old, new)]
    catalog.catalog() / sheets_by_group() / rules_for(sheet) / apply_edits(ps, values=, cells=, tables=)
    safety.precheck(bytes) / UploadLimits                                         hostile-upload wall
    cli.main(argv)                                                                `python -m engine params`
"""
from .errors import (
    ParamIssue,
    ParamsError,
    StaleVersionError,
    UnsafeWorkbookError,
    ValidationError,
    VersionNotFoundError,
)
from .paramset import ParamSet, ReadRecorder, Row, SheetConfig, default_params, track_reads
from .schema import Schema, load_schema

__all__ = [
    "ParamIssue", "ParamSet", "ParamsError", "ReadRecorder", "Row", "Schema", "SheetConfig", "StaleVersionError",
    "UnsafeWorkbookError", "ValidationError", "VersionNotFoundError", "default_params", "load_schema", "track_reads",
]
