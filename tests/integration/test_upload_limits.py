"""A workbook over the upload limit gets one clear message whatever its size (6 MB, 12 MB, 40 MB),
never Flask's raw 413 page, and the active version stays."""
from __future__ import annotations

import base64

from tests import web_requests as wr
from tests.auth_helpers import login_client
from webapp.param_views import too_large_message


def test_oversize_uploads_get_the_same_message(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    from app import create_app

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10, max_upload_bytes=5_000_000),
                     start_engine=False)
    client = login_client(app, "admin")
    dep = wr.find(wr.dependencies(client), "parameters-upload-result.children")
    expected = too_large_message(5_000_000)
    for megabytes in (6, 12):
        contents = "data:application/octet-stream;base64," + base64.b64encode(b"\0" * (megabytes * 1_000_000)).decode()
        response = wr.call(client, dep, {"parameters-upload.contents": contents,
                                         "parameters-upload.filename": f"big{megabytes}.xlsx"},
                           trigger="parameters-upload.contents")
        assert response.status_code == 200, megabytes
        assert f"big{megabytes}.xlsx was refused: {expected}" in response.get_data(as_text=True)
    huge = "data:application/octet-stream;base64," + base64.b64encode(b"\0" * 40_000_000).decode()
    response = wr.call(client, dep, {"parameters-upload.contents": huge}, trigger="parameters-upload.contents")
    assert response.status_code == 413 and response.is_json  # the page's script shows this text
    assert response.get_json()["error"] == ("refused: the file is larger than the 5.0 MB upload limit (parameter "
                                            "workbooks and backtest CSV files alike); nothing was changed")


def test_a_small_limit_reads_in_kilobytes_in_the_servers_413(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    """A limit under 50 kB read "0.0 MB" in the server's own refusal."""
    from app import create_app

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10, max_upload_bytes=20_000),
                     start_engine=False)
    client = login_client(app, "admin")
    dep = wr.find(wr.dependencies(client), "parameters-upload-result.children")
    huge = "data:application/octet-stream;base64," + base64.b64encode(b"\0" * 2_000_000).decode()
    response = wr.call(client, dep, {"parameters-upload.contents": huge}, trigger="parameters-upload.contents")
    assert response.status_code == 413 and response.is_json
    assert response.get_json()["error"] == ("refused: the file is larger than the 20 kB upload limit (parameter "
                                            "workbooks and backtest CSV files alike); nothing was changed")
