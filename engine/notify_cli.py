"""`python -m engine notify test`: send one test message to every target in REGIMEDESK_NOTIFY_URLS now, and say
per target (masked, never its token) whether it arrived.

Without it an operator learnt whether the targets work only when a real HALT page did or did not arrive. The
message goes through the same delivery as every page (engine/notify_delivery.py: retries, time budget), from a
notifier of its own (no rate limit, the running engine's notifier untouched); nothing is written to the store.
Exit status 0 when every target took the message, 1 otherwise (or no target), 2 for a configuration error.
"""
from __future__ import annotations

import socket
import sys
from collections.abc import Iterable
from typing import TextIO

from engine.clock import utcnow
from engine.notify import Notifier
from engine.notify_delivery import ATTEMPTS, BACKOFF_S, BUDGET_S, Delivery, invalid_note, masked
from engine.settings import SettingsError, load_settings

TITLE = "RegimeDesk: test notification"


def outcome_text(delivery: Delivery | None, url: str, invalid: bool) -> str:
    if invalid:
        return invalid_note(url)
    if delivery is None:
        return "no answer within the time budget (see the log)"
    if delivery.ok:
        return f"delivered (attempt {delivery.attempts})"
    if delivery.unconfirmed:
        return "sent, but no answer in time: it may have arrived, check the receiving end"
    return f"not delivered after {delivery.attempts} attempt(s) (the log says why)"


def send_test(urls: Iterable[str], out: TextIO, budget_s: float = BUDGET_S, attempts: int = ATTEMPTS,
              backoff_s: tuple[float, ...] = BACKOFF_S) -> int:
    """Send the test message to each of `urls`, print one line per target; 0 when every one took it."""
    deliveries: list[Delivery] = []
    notifier = Notifier(urls, on_delivery=deliveries.append, budget_s=budget_s, attempts=attempts,
                        backoff_s=backoff_s)
    if not notifier.urls:
        print("no notification targets: REGIMEDESK_NOTIFY_URLS is empty; nothing was sent", file=out)
        return 1
    try:
        notifier.send(TITLE, f"A test from {socket.gethostname()} at {utcnow():%Y-%m-%d %H:%M:%S} UTC: "
                             "notifications reach this target.", "info")
        notifier.flush(budget_s + 5.0)
    finally:
        notifier.stop(flush_s=0.0)
    ok = True
    for worker in notifier.workers:
        found = next((d for d in deliveries if d.target == worker.shown), None)
        ok = ok and not worker.invalid and found is not None and found.ok
        print(f"{masked(worker.url)}: {outcome_text(found, worker.url, worker.invalid)}", file=out)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["test"]:
        print("usage: python -m engine notify test   (one test message to every REGIMEDESK_NOTIFY_URLS target)",
              file=sys.stderr)
        return 2
    try:
        urls = load_settings().notify_targets
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return send_test(urls, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
