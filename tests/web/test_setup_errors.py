"""What a person at a browser reads when the server is not set up right: no file, line or
path of the server, which go to its log for the admin."""

from __future__ import annotations

from dataclasses import replace

import pytest

from duban.app import build_service
from duban.web.errors import SETUP_MESSAGE
from duban.web.settings import WebSettings
from tests.conftest import ADMIN, build_office
from tests.web.conftest import free_port, give_passwords, start_server
from tests.web.test_pages import csrf_of, sign_in


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
        # the same on a page: the new-item form asked for the broken workflow
        give_passwords(service, "zhao")
        browser = sign_in(found, "zhao")
        form = browser.get("/items/new").text
        page = browser.post("/items/new", data={
            "csrf": csrf_of(form), "title": "排查", "unit": "JJK", "deadline": "10个工作日",
            "workflow": "boom", "source": "other"})
        assert page.status_code == 503 and SETUP_MESSAGE in page.text
        assert "secret detail" not in page.text and str(folder) not in page.text
    finally:
        found.close()
        running.should_exit = True
        service.close()
