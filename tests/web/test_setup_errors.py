"""What a person at a browser reads when the server is not set up right: no file, line or
path of the server, which go to its log for the admin."""

from __future__ import annotations

from dataclasses import replace

import pytest

from duban.app import build_service
from duban.web.app import SETUP_MESSAGE
from duban.web.settings import WebSettings
from tests.conftest import ADMIN, build_office
from tests.web.conftest import free_port, start_server


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_a_broken_workflow_file_is_not_shown_to_the_api(settings, clock, tmp_path, caplog):
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "boom.py").write_text('raise RuntimeError("secret detail")\n', encoding="utf-8")
    service = build_service(replace(settings, workflows_dir=folder), clock)
    service.init(ADMIN, "管理员")
    build_office(service, clock)
    found, running = start_server(service, WebSettings(port=free_port()))
    try:
        answer = found.api(found.token("wang")).get("/items", params={"workflow": "boom"})
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error == {"code": "setup", "message": SETUP_MESSAGE, "status": 503}
        assert "secret detail" in caplog.text and str(folder) in caplog.text  # for the admin
        # a plain unknown workflow is bad input, with the valid ones
        unknown = found.api(found.token("wang")).get("/items", params={"workflow": "nope"})
        assert unknown.status_code == 422 and "标准督办(standard)" in unknown.text
    finally:
        found.close()
        running.should_exit = True
        service.close()
