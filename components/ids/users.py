"""Ids of the Users page (values are the DOM ids the browser tests use)."""

ADD = "users-add"
ADD_NAME = "users-add-name"
ADD_PASSWORD = "users-add-password"
ADD_PASSWORD_AGAIN = "users-add-password-again"
ADD_ROLE = "users-add-role"
APPLY = "users-apply"
CHANGE = "users-change"
INTERVAL = "users-interval"
MESSAGE = "users-message"
NEW_PASSWORD = "users-new-password"
NEW_PASSWORD_AGAIN = "users-new-password-again"
PASSWD = "users-passwd"
PICK = "users-pick"
RESULT = "users-result"
TABLE = "users-table"

# The confirm dialogs (webapp/users_dialogs.py); each confirm_modal derives `{prefix}-modal`, `-confirm`, `-cancel`.
PENDING_CHANGE = "users-pending"  # dcc.Store: the change the open dialog confirms (UsersStep.pending)
ROLE_DIALOG = "users-role-dialog"  # Apply "role: ...": change the role?
ROLE_DIALOG_BODY = "users-role-dialog-body"
ROLE_DIALOG_CANCEL = "users-role-dialog-cancel"
ROLE_DIALOG_CONFIRM = "users-role-dialog-confirm"
ROLE_DIALOG_MODAL = "users-role-dialog-modal"
DISABLE_DIALOG = "users-disable-dialog"  # Apply "disable": disable them?
DISABLE_DIALOG_BODY = "users-disable-dialog-body"
DISABLE_DIALOG_CANCEL = "users-disable-dialog-cancel"
DISABLE_DIALOG_CONFIRM = "users-disable-dialog-confirm"
DISABLE_DIALOG_MODAL = "users-disable-dialog-modal"
ENABLE_DIALOG = "users-enable-dialog"  # Apply "enable": enable them?
ENABLE_DIALOG_BODY = "users-enable-dialog-body"
ENABLE_DIALOG_CANCEL = "users-enable-dialog-cancel"
ENABLE_DIALOG_CONFIRM = "users-enable-dialog-confirm"
ENABLE_DIALOG_MODAL = "users-enable-dialog-modal"
PASSWD_DIALOG = "users-passwd-dialog"  # Set password: set it?
PASSWD_DIALOG_BODY = "users-passwd-dialog-body"
PASSWD_DIALOG_CANCEL = "users-passwd-dialog-cancel"
PASSWD_DIALOG_CONFIRM = "users-passwd-dialog-confirm"
PASSWD_DIALOG_MODAL = "users-passwd-dialog-modal"
