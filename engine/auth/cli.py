"""`python -m engine users ...`: manage dashboard users from a shell (no web login needed).

  python -m engine users add NAME --role viewer|trader|admin --password-stdin
  python -m engine users list
  python -m engine users disable NAME        (and `enable NAME`)
  python -m engine users passwd NAME --password-stdin
  python -m engine users role NAME ROLE

Passwords are read as one line from standard input, never from the command line (where `ps`
and shell history would see them); at a terminal they are asked twice and not shown as typed. Every change is audited as "cli:<os user>".
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from engine.auth import users
from engine.auth.passwords import WeakPassword
from engine.auth.roles import ROLE_NAMES, UnknownRole
from engine.cli_actor import cli_actor
from engine.clock import utcnow
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.migrate import open_store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine users", description="RegimeDesk dashboard users")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLE_NAMES)
    add.add_argument("--password-stdin", action="store_true", required=True, help="read the password from stdin")
    sub.add_parser("list", help="list users")
    for name in ("disable", "enable"):
        sub.add_parser(name, help=f"{name} a user (ends their sessions)").add_argument("name")
    passwd = sub.add_parser("passwd", help="set a new password (ends the user's sessions, lifts a lockout)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", required=True)
    role = sub.add_parser("role", help="change a user's role (ends their sessions)")
    role.add_argument("name")
    role.add_argument("role", choices=ROLE_NAMES)
    return parser


def _read_password(stdin: TextIO, name: str) -> str:
    """One line from standard input (a pipe, a file); at a terminal, asked twice without showing it: a plain
    readline echoed the password on screen (and into the scrollback) as it was typed, with no prompt at all."""
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("the same password again: ") != first:
        raise users.UserError("the two passwords differ; nothing changed")
    return first


def _open_store() -> Store:
    return open_store(load_settings().database_url, migrate=True)


def run(argv: list[str], store: Store, stdin: TextIO, out: TextIO, actor: str) -> int:
    args = _parser().parse_args(argv)
    now = utcnow()
    try:
        if args.command == "add":
            user = users.add_user(store, now, actor, args.name, args.role, _read_password(stdin, args.name))
            print(f"added {user.name} ({user.role})", file=out)
        elif args.command == "list":
            print(f"{'name':24} {'role':8} {'status':9} {'created':16} locked out from", file=out)
            locked = users.locked_addresses(store, now)
            for u in users.list_users(store):
                status = "disabled" if u.disabled else "active"
                print(f"{u.name:24} {u.role:8} {status:9} {u.created_at:%Y-%m-%d %H:%M} "
                      f"{', '.join(locked.get(u.name, []))}".rstrip(), file=out)
        elif args.command in ("disable", "enable"):
            changed = users.set_disabled(store, now, actor, args.name, args.command == "disable").changed
            print(f"{args.name} {args.command}d" if changed else f"{args.name} is already {args.command}d; nothing changed",
                  file=out)
        elif args.command == "passwd":
            users.set_password(store, now, actor, args.name, _read_password(stdin, args.name))
            print(f"password of {args.name} changed; their sessions ended", file=out)
        elif args.command == "role":
            user = users.set_role(store, now, actor, args.name, args.role)
            print(f"{user.name} is now {user.role}; their sessions ended" if user.changed else
                  f"{user.name} is already {user.role}; nothing changed", file=out)
    except (users.UserError, WeakPassword, UnknownRole) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    store = _open_store()
    try:
        return run(argv, store, sys.stdin, sys.stdout, cli_actor())
    finally:
        store.dispose()
