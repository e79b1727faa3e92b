"""masked() for every apprise URL form (defects: a Telegram URL made it raise, which broke the health job, every
notification and create_app; tokens apprise keeps in the host position were shown in logs and the UI).

Only schemes whose host position is a host (json, xml, form, ntfy with a topic path, gotify, mailto) keep it;
every other scheme shows `scheme://***`. Built from apprise's URL templates (apprise/plugins/*.py)."""
from __future__ import annotations

import logging

import pytest

from engine import notify
from engine.notify_delivery import masked

TG_SECRET = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
PB_TOKEN = "o.gn5kj6nfhv736i7jc3cj3qlriyhgl98b"
OG_KEY = "a6be3f8c-8bd4-4c42-9f5b-3c3a8f0e5e11"
PO_TOKEN = "azgdorepk8gmac0qoyamyeeuzjnyui"


@pytest.mark.parametrize(("url", "expected"), [
    (f"tgram://123456789:{TG_SECRET}/987654321", "tgram://***"),  # bot token in the netloc: not a port
    (f"pbul://{PB_TOKEN}", "pbul://***"),  # pushbullet: the access token is the host
    (f"opsgenie://{OG_KEY}", "opsgenie://***"),
    (f"pover://userkey123456@{PO_TOKEN}", "pover://***"),  # pushover: user@token
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack://***"),
    ("json://127.0.0.1:8080/hook/s3cretTOKENabc123", "json://127.0.0.1:8080/***"),
    ("jsons://user:pw123456@hooks.example.com/path", "jsons://hooks.example.com/***"),
    ("xml://hooks.example.com", "xml://hooks.example.com/***"),
    ("gotify://gotify.example.com/AbCdEf123456", "gotify://gotify.example.com/***"),
    ("mailto://alice:app-password@gmail.com", "mailto://gmail.com/***"),
    ("ntfy://my-secret-topic-name", "ntfy://***"),  # ntfy.sh: the topic (a secret) is the host
    ("ntfys://ntfy.example.com/alerts", "ntfys://ntfy.example.com/***"),
    ("json://127.0.0.1:notaport/hook", "json://127.0.0.1/***"),
    ("json://[::1/hook", "json://***"),  # urlsplit raises on this netloc
    ("not a url at all", "***"),
    ("", "***"),
])
def test_masked_never_raises_and_shows_a_host_only_where_apprise_keeps_a_host(url: str, expected: str) -> None:
    assert masked(url) == expected


def test_the_log_filter_masks_tokens_kept_in_the_host_and_the_netloc(caplog: pytest.LogCaptureFixture) -> None:
    urls = [f"pbul://{PB_TOKEN}", f"tgram://123456789:{TG_SECRET}/987654321", f"pover://userkey123456@{PO_TOKEN}"]
    notifier = notify.Notifier(urls)  # built, never sent to (no network)
    try:
        assert notifier.targets() == ["pbul://***", "tgram://***", "pover://***"]
        caplog.set_level(logging.DEBUG)
        apprise_log = logging.getLogger("apprise")
        apprise_log.warning("Pushbullet token %s rejected", PB_TOKEN)
        apprise_log.warning("POST https://api.telegram.org/bot123456789:%s/sendMessage failed", TG_SECRET)
        apprise_log.warning("Pushover application %s unknown", PO_TOKEN)
    finally:
        notifier.stop(0.1)
    assert caplog.records, "nothing logged"
    for secret in (PB_TOKEN, TG_SECRET, PO_TOKEN):
        assert secret not in caplog.text
