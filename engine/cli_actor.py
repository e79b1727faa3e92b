"""The audit actor of a command-line tool: "cli:" and the operating-system user who ran it."""
from __future__ import annotations

import getpass


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"
