"""Ids of the trading-state banner on every page (values are the DOM ids the browser tests use)."""

BOX = "banner-box"
ENGINE = "banner-engine"
ENGINE_TEXT = "banner-engine-text"  # the engine line's text inside ENGINE (webapp/deadman.py)
INTERVAL = "banner-interval"
KILL_ALERT = "banner-kill-alert"
KILL_BUTTON = "banner-kill-button"
KILL_CANCEL = "banner-kill-cancel"
KILL_CONFIRM = "banner-kill-confirm"
KILL_FLATTEN = "banner-kill-flatten"
KILL_MODAL = "banner-kill-modal"
KILL_RESULT = "banner-kill-result"
STATE = "banner-state"
STATE_NAME = "banner-state-name"

KILL = "banner-kill"  # the kill switch's confirm dialog (components.confirm_modal): KILL_MODAL, KILL_CONFIRM, KILL_CANCEL
