"""/metrics series that misbehaved (audit 3):

- every made-up HTTP method of an anonymous request became a new method label value (unbounded series);
- regimedesk_gateway_rejections_total went down when the sync's guessed "broker: never received" rejection
  was corrected (it was rebuilt from the orders rejected now). It is folded in per order, once, and never
  decreases, as job runs are. Real store (SQLite and PostgreSQL), the real health aggregation and exposition."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from engine.health.recorder import update_cumulative_metrics
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import OrderRow
from engine.trading.brokers.base import BrokerOrder, OrderSide, OrderStatus, OrderType
from engine.trading.orders import NEVER_RECEIVED, apply_broker_order
from webapp import metrics
from webapp.metrics import render_metrics

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _methods() -> set[str]:
    families = {f.name: f for f in text_string_to_metric_families(metrics.generate_latest(metrics.HTTP_REGISTRY)
                                                                    .decode())}
    return {s.labels["method"] for s in families["regimedesk_http_requests"].samples}


def test_made_up_http_methods_share_one_label_value(test_settings) -> None:  # type: ignore[no-untyped-def]
    # local import: app pulls in Dash and every page; only this test needs it
    from app import create_app

    app = create_app(test_settings(), start_engine=False)
    client = app.server.test_client()
    for i in range(20):  # anonymous, no cookie
        client.open("/healthz", method=f"X{i:05d}")
    client.open("/healthz", method="PROPFIND")
    client.get("/healthz")
    client.open("/healthz", method="OPTIONS")
    methods = _methods()
    assert not {m for m in methods if m.startswith("X0") or m == "PROPFIND"}, sorted(methods)
    assert {"other", "GET", "OPTIONS"} <= methods


def _order(cid: str, status: str, reason: str | None) -> OrderRow:
    return OrderRow(client_order_id=cid, broker_order_id=None, symbol="SPY", side="buy", qty=Decimal(1),
                    order_type="market", limit_price=None, status=status, origin="planner", actor="test",
                    param_version_id=None, created_at=T0, updated_at=T0, reject_reason=reason)


def _rejections(ctx) -> dict[str, float]:  # type: ignore[no-untyped-def]
    families = {f.name: f for f in text_string_to_metric_families(render_metrics(ctx).decode())}
    return {s.labels["reason"]: s.value for s in families["regimedesk_gateway_rejections"].samples
            if s.name.endswith("_total")}


def test_the_rejections_counter_never_goes_down(any_db_url: str) -> None:
    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True)
    try:
        with ctx.store.write() as s:
            s.add(_order("c-1", "rejected", f"{NEVER_RECEIVED} (the broker was down)"))  # the sync's guess
            s.add(_order("c-2", "rejected", "max_position: 120 shares above the limit"))
            s.add(_order("c-3", "new", None))  # open: the broker may still reject it
        update_cumulative_metrics(ctx)
        assert _rejections(ctx) == {"broker": 1.0, "max_position": 1.0}

        with ctx.store.write() as s:  # the next sync finds c-1 at the broker after all; c-3 is rejected
            c1 = s.query(OrderRow).filter_by(client_order_id="c-1").one()
            apply_broker_order(c1, BrokerOrder("b-1", "c-1", "SPY", OrderSide.BUY, Decimal(1), OrderType.MARKET,
                                               None, OrderStatus.FILLED, Decimal(1), Decimal(100), T0, T0),
                               T0 + timedelta(minutes=1))
            c3 = s.query(OrderRow).filter_by(client_order_id="c-3").one()
            c3.status, c3.reject_reason = "rejected", "broker: insufficient buying power"
        update_cumulative_metrics(ctx)
        assert _rejections(ctx) == {"broker": 2.0, "max_position": 1.0}  # c-1 stays counted, c-3 added

        update_cumulative_metrics(ctx)  # nothing new: nothing counted twice
        with ctx.store.write() as s:
            s.add(_order("c-4", "rejected", "daily_loss: limit reached"))
        update_cumulative_metrics(ctx)
        assert _rejections(ctx) == {"broker": 2.0, "max_position": 1.0, "daily_loss": 1.0}
    finally:
        ctx.store.dispose()
