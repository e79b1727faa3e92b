"""Every component id of the Planner page, in one place (issue 10: one way to wire a page).

The layout (pages/planner.py, webapp/planner_overrides_panel.py) and the callbacks (webapp/planner_callbacks.py,
webapp/planner_preset_callbacks.py, webapp/planner_preset_versions.py, webapp/planner_pickers.py,
webapp/planner_regime_table.py, webapp/planner_recent_plans.py, webapp/planner_overrides_panel.py) import these names instead of repeating
strings, so a renamed id cannot leave a callback listening to nothing. The values are what the browser tests
select on: changing one is a change to the page's contract, not a refactor.
"""
from __future__ import annotations

from typing import Final

# ---- controls: preset picker, sliders, module switches -------------------------------------------------
PRESET: Final = "planner-preset"
PRESET_DESCRIPTION: Final = "planner-preset-description"
SLIDERS: Final = "planner-sliders"
SLIDER: Final = "planner-slider"  # pattern-matching type: {"type": SLIDER, "name": slider name}
SLIDER_MOVES: Final = "planner-slider-moves"  # pattern-matching type
SLIDER_BOX: Final = "planner-slider-box"  # pattern-matching type: the number box typed next to each slider
SLIDER_MESSAGE: Final = "planner-slider-message"  # says when a typed value was outside 0..1 and what was used
SWITCHES: Final = "planner-switches"
SWITCH: Final = "planner-switch"  # pattern-matching type: {"type": SWITCH, "name": "table.key"}

# ---- numeric overrides editor ----------------------------------------------------------------------
OVERRIDES: Final = "planner-overrides"  # dcc.Store: {"table.key": value}, only ever validated values
OVERRIDE_KEY: Final = "planner-override-key"
OVERRIDE_KEY_HELP: Final = "planner-override-key-help"
OVERRIDE_VALUE: Final = "planner-override-value"
OVERRIDE_ADD: Final = "planner-override-add"
OVERRIDE_MESSAGE: Final = "planner-override-message"
OVERRIDE_ROWS: Final = "planner-override-rows"
OVERRIDE_REMOVE: Final = "planner-override-remove"  # pattern-matching type: {"type": ..., "key": "table.key"}
PRECEDENCE: Final = "planner-precedence"

# ---- preview and send ------------------------------------------------------------------------------
INTERVAL: Final = "planner-interval"
PREVIEW_KEY: Final = "planner-preview-key"
PREVIEW_PORTFOLIO: Final = "planner-preview-portfolio"
PLAN: Final = "planner-plan"
ERROR: Final = "planner-error"
PLAN_PREFIX: Final = "planner"  # plan_view's ids: planner-summary, planner-steps, planner-costs, ...
SEND: Final = "planner-send"  # also the confirm modal's prefix: planner-send-modal, -confirm, -cancel
SEND_MODAL: Final = "planner-send-modal"
SEND_CONFIRM: Final = "planner-send-confirm"
SEND_CANCEL: Final = "planner-send-cancel"
SEND_BODY: Final = "planner-send-body"
SEND_RESULT: Final = "planner-send-result"
SEND_OUTCOMES: Final = "planner-send-outcomes"
# dcc.Store {"key", "portfolio"}: the plan the confirm dialog shows, written when it opens; Send sends that plan, not
# whatever the preview (refreshed every 5 s) holds by the time the trader confirms
SEND_SHOWN: Final = "planner-send-shown"
READ_ONLY: Final = "planner-read-only"
REGIME_HOLD: Final = "planner-regime-hold"  # why no new exposure: the regime is uncertain
IN_FORCE: Final = "planner-in-force"  # "In force now: <preset> (<why>)", refreshed with REGIME_HOLD
IN_FORCE_PRINT: Final = "planner-in-force-print"  # dcc.Store: a digest of the IN_FORCE line and REGIME_HOLD shown

# ---- tabs: comparison, regime table, user presets, stored plans --------------------------------------
TABS: Final = "planner-tabs"
COMPARE_A: Final = "planner-compare-a"
COMPARE_B: Final = "planner-compare-b"
COMPARE: Final = "planner-compare"
COMPARE_KEY: Final = "planner-compare-key"
COMPARE_LEFT: Final = "planner-compare-left"
COMPARE_RIGHT: Final = "planner-compare-right"
COMPARE_NOTE: Final = "planner-compare-note"  # says when a picked preset was renamed (followed) or deleted (cleared)
REGIME: Final = "planner-regime"  # pattern-matching type: {"type": REGIME, "name": regime}
REGIME_SAVE: Final = "planner-regime-save"
REGIME_MESSAGE: Final = "planner-regime-message"
REGIME_TABLE: Final = "planner-regime-table"
REGIME_NOTE: Final = "planner-regime-note"  # says when a picked preset was renamed (followed) or deleted (cleared)
SAVE_NAME: Final = "planner-save-name"
SAVE: Final = "planner-save"
SAVE_MESSAGE: Final = "planner-save-message"
VERSIONS_NAME: Final = "planner-versions-name"
VERSIONS: Final = "planner-versions"
DIFF_A: Final = "planner-diff-a"
DIFF_B: Final = "planner-diff-b"
DIFF: Final = "planner-diff"
RESTORE: Final = "planner-restore"
RESTORE_MESSAGE: Final = "planner-restore-message"
RENAME_NAME: Final = "planner-rename-name"
RENAME: Final = "planner-rename"
DELETE: Final = "planner-delete"  # also the confirm modal's prefix: planner-delete-modal, -confirm, -cancel
DELETE_MODAL: Final = "planner-delete-modal"
DELETE_CONFIRM: Final = "planner-delete-confirm"
DELETE_CANCEL: Final = "planner-delete-cancel"
DELETE_BODY: Final = "planner-delete-body"
MANAGE_MESSAGE: Final = "planner-manage-message"  # rename / delete outcome
# dcc.Store {"n": count, "old": name or None, "new": name or None}: written after every save, rename and delete of
# a user preset (webapp/planner_preset_callbacks.py); every other preset picker refreshes on it
# (webapp/planner_pickers.py). Save: old None; delete: new None.
PRESETS_CHANGED: Final = "planner-presets-changed"
RECENT: Final = "planner-recent"
RECENT_PRINT: Final = "planner-recent-print"


def slider(name: str) -> dict[str, str]:
    return {"type": SLIDER, "name": name}


def slider_box(name: str) -> dict[str, str]:
    return {"type": SLIDER_BOX, "name": name}


def switch(key: str) -> dict[str, str]:
    return {"type": SWITCH, "name": key}


def regime(name: str) -> dict[str, str]:
    return {"type": REGIME, "name": name}


def override_remove(key: str) -> dict[str, str]:
    return {"type": OVERRIDE_REMOVE, "key": key}
