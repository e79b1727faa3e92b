"""Ids of the Risk page (values are the DOM ids the browser tests use)."""

BETA = "risk-beta"
BREACHES = "risk-breaches"
CLUSTER = "risk-cluster"
CORR = "risk-corr"
CVAR99 = "risk-cvar99"
CVAR99_PCT = "risk-cvar99-pct"
DOLLAR_BETA = "risk-dollar-beta"
EXPOSURE = "risk-exposure"
GROUPS = "risk-groups"
HISTORY = "risk-history"
INTERVAL = "risk-interval"
NOTE = "risk-note"
SCENARIO_DELETE = "risk-scenario-delete"
SCENARIO_ERROR = "risk-scenario-error"
SCENARIO_LIST = "risk-scenario-list"
SCENARIO_MSG = "risk-scenario-msg"
SCENARIO_NAME = "risk-scenario-name"
SCENARIO_SAVE = "risk-scenario-save"
SCENARIO_SHOCKS = "risk-scenario-shocks"
SIDES = "risk-sides"
STALE = "risk-stale"  # the warning above a report the risk cycle has not refreshed
STRESS = "risk-stress"
STRESS_POSITIONS = "risk-stress-positions"
VAR95 = "risk-var95"
VAR95_PCT = "risk-var95-pct"
VAR_TABLE = "risk-var-table"
WORST = "risk-worst"
WORST_NAME = "risk-worst-name"

# The scenario editor's confirm dialogs (components.confirm_modal): each prefix gives `{prefix}-modal`,
# `{prefix}-confirm` and `{prefix}-cancel`; the pending change a dialog confirms is kept in PENDING.

PENDING = "risk-scenario-pending"  # dcc.Store: the change the open dialog confirms (webapp.risk_views.ScenarioStep)

REPLACE = "risk-scenario-replace"  # Save under a name that exists: replace it?
REPLACE_BODY = "risk-scenario-replace-body"
REPLACE_CANCEL = "risk-scenario-replace-cancel"
REPLACE_CONFIRM = "risk-scenario-replace-confirm"
REPLACE_MODAL = "risk-scenario-replace-modal"

REMOVE = "risk-scenario-remove"  # Delete: delete it?
REMOVE_BODY = "risk-scenario-remove-body"
REMOVE_CANCEL = "risk-scenario-remove-cancel"
REMOVE_CONFIRM = "risk-scenario-remove-confirm"
REMOVE_MODAL = "risk-scenario-remove-modal"
