"""Every page's component ids, one module a page (issue 10, point 3): layouts and callbacks both name
ids through these constants, so a misspelt id is an AttributeError at import, not a silent dead callback.

Usage: `from components.ids import trading as ids` then `id=ids.ORDERS_TABLE` and `Input(ids.ORDERS_TABLE, ...)`.
Pattern-matching ids use a type constant: `{"type": ids.CANCEL_ORDER, "index": ALL}`.
tests/unit/test_page_ids.py checks that pages, webapp and components use no string-literal id.
"""
