"""Ids of the Trading page (values are the DOM ids the browser tests use)."""

ACTION_ALERT = "trading-action-alert"
ACTION_RESULT = "trading-action-result"
CLOSE_ALERT = "trading-close-alert"
CLOSE_BODY = "trading-close-body"
CLOSE_CANCEL = "trading-close-cancel"
CLOSE_CONFIRM = "trading-close-confirm"
CLOSE_MODAL = "trading-close-modal"
CLOSE_NONCE = "trading-close-nonce"
CLOSE_RESULT = "trading-close-result"
CLOSE_TARGET = "trading-close-target"
EXECUTION_PRINTS = "trading-execution-prints"
FINGERPRINTS = "trading-fingerprints"
INTERVAL = "trading-interval"
KILL_BUTTON = "trading-kill-button"
KILL_CANCEL = "trading-kill-cancel"
KILL_CONFIRM = "trading-kill-confirm"
KILL_FLATTEN = "trading-kill-flatten"
KILL_MODAL = "trading-kill-modal"
PARENTS = "trading-parents"
PARENT_ALERT = "trading-parent-alert"
PARENT_RESULT = "trading-parent-result"
PAUSE_BUTTON = "trading-pause-button"
PROGRESS_STATUS = "trading-progress-status"
REASON_INPUT = "trading-reason-input"
RESUME_BUTTON = "trading-resume-button"
SHUTDOWN_BUTTON = "trading-shutdown-button"
SHUTDOWN_CANCEL = "trading-shutdown-cancel"
SHUTDOWN_CONFIRM = "trading-shutdown-confirm"
SHUTDOWN_FLATTEN = "trading-shutdown-flatten"
SHUTDOWN_MODAL = "trading-shutdown-modal"
STATE = "trading-state"
STATE_BADGE = "trading-state-badge"
STOPS = "trading-stops"
STOP_ALERT = "trading-stop-alert"
STOP_BOX = "trading-stop-box"
STOP_RESULT = "trading-stop-result"
STOP_SUBMIT = "trading-stop-submit"
STOP_SYMBOL = "trading-stop-symbol"
TICKET_ALERT = "trading-ticket-alert"
TICKET_BOX = "trading-ticket-box"
TICKET_LIMIT = "trading-ticket-limit"
TICKET_NONCE = "trading-ticket-nonce"
TICKET_QTY = "trading-ticket-qty"
TICKET_RESULT = "trading-ticket-result"
TICKET_SIDE = "trading-ticket-side"
TICKET_SIZE = "trading-ticket-size"
TICKET_SIZE_NOTE = "trading-ticket-size-note"
TICKET_SUBMIT = "trading-ticket-submit"
TICKET_SYMBOL = "trading-ticket-symbol"
TICKET_TYPE = "trading-ticket-type"
VIEWER_NOTE = "trading-viewer-note"

# Pattern-matching id types: {"type": TYPE, <key>: ...}
CANCEL_ORDER = "trading-cancel-order"
CANCEL_PARENT = "trading-cancel-parent"
CLOSE_POSITION = "trading-close-position"
ORDER_CELL = "trading-order-cell"  # an open order's value cell: {"type", "order": orders.id, "field"}
REMOVE_STOP = "trading-remove-stop"
STEP = "trading-step"
STOP_LEVEL = "trading-stop-level"

# Confirm dialogs (components.confirm_modal): {prefix}-modal, {prefix}-confirm, {prefix}-cancel
KILL = "trading-kill"
CLOSE = "trading-close"
SHUTDOWN = "trading-shutdown"


def section(key: str) -> str:
    """A refreshed section of the page: section("orders") == ORDERS."""
    return f"trading-{key}"


# The lift-the-halt dialog (webapp/trading_lift.py); confirm_modal derives -modal, -confirm, -cancel from LIFT.
LIFT = "trading-lift"
LIFT_MODAL, LIFT_CONFIRM, LIFT_CANCEL = f"{LIFT}-modal", f"{LIFT}-confirm", f"{LIFT}-cancel"
LIFT_BODY = "trading-lift-body"
LIFT_ACTION = "trading-lift-action"  # dcc.Store: the action ("pause" | "resume") the open dialog confirms
# dcc.Store: positions_shape() of the positions table drawn on the page (webapp/trading_positions.py; None: not yet)
POSITIONS_SHAPE = "trading-positions-shape"
# dcc.Store: orders_shape() of the open-orders table drawn on the page (webapp/trading_orders.py; None: not yet)
ORDERS_SHAPE = "trading-orders-shape"


def stop_field(suffix: str) -> str:
    """A field of the trailing-stop form (components.execution_panels.STOP_FIELDS)."""
    return f"trading-stop-{suffix}"
