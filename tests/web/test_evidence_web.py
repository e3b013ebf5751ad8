"""Evidence over real HTTP: multipart uploads through the API and the 督办单's forms, files
handed out only to those who may see the item, as what their content is."""

from __future__ import annotations

import hashlib

from tests.web.conftest import give_passwords
from tests.web.test_pages import csrf_of, sign_in

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
SCRIPT = b"<html><script>alert(1)</script></html>"


def test_the_api_takes_files_with_an_event_and_hands_them_back(server, office):
    item = office.item()
    office.fire("wang", item, "sign")
    handler, outsider = server.api(server.token("wang")), server.api(server.token("zheng"))
    fired = handler.post(f"/items/{item}/events/report/files",
                         data={"values": '{"report": "已整改"}'},
                         files=[("attach", ("整改报告.pdf", PDF, "text/plain")),
                                ("attach", ("现场.png", PNG, "application/pdf"))])
    assert fired.status_code == 200, fired.text
    assert fired.json()["state"] == "reported"
    listed = handler.get(f"/items/{item}/evidence").json()
    # the type is judged from the content, whatever the client said it was
    assert [(e["name"], e["media_type"]) for e in listed] == [
        ("整改报告.pdf", "application/pdf"), ("现场.png", "image/png")]
    got = handler.get(f"/evidence/{listed[0]['id']}")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["etag"] == f'"{hashlib.sha256(PDF).hexdigest()}"'
    for path in (f"/evidence/{listed[0]['id']}", f"/items/{item}/evidence"):
        refused = outsider.get(path)
        assert refused.status_code == 404, path
    assert outsider.get("/evidence/999").json()["error"]["message"] == \
        outsider.get(f"/evidence/{listed[0]['id']}").json()["error"]["message"].replace(
            str(listed[0]["id"]), "999")
    added = handler.post(f"/items/{item}/evidence", data={"note": "补充签到表"},
                         files=[("attach", ("签到表.png", PNG, "image/png"))])
    assert added.status_code == 201 and added.json()[0]["name"] == "签到表.png"
    withdrawn = handler.post(f"/evidence/{added.json()[0]['id']}/withdraw",
                             json={"reason": "重复"})
    assert withdrawn.status_code == 200
    assert len(handler.get(f"/items/{item}/evidence").json()) == 2


def test_a_refused_upload_is_the_engines_message_and_writes_nothing(server, office):
    item = office.item()
    office.fire("wang", item, "sign")
    handler = server.api(server.token("wang"))
    refused = handler.post(f"/items/{item}/events/report/files",
                           data={"values": '{"report": "已整改"}'},
                           files=[("attach", ("a.pdf", PDF, "application/pdf")),
                                  ("attach", ("报告.exe", b"MZ\x90\x00" + bytes(64), "x"))])
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("文件 报告.exe 的类型不受支持")
    assert office.service.item("wang", item)["state"] == "in_progress"
    assert handler.get(f"/items/{item}/evidence").json() == []
    bad_values = handler.post(f"/items/{item}/events/report/files", data={"values": "[1]"},
                              files=[("attach", ("a.pdf", PDF, "application/pdf"))])
    assert bad_values.status_code == 422
    assert bad_values.json()["error"]["message"] == "values 应为 JSON 对象"


def test_the_item_page_uploads_shows_thumbnails_and_withdraws(server, office):
    give_passwords(server.service, "wang", "zheng")
    item = office.item()
    office.fire("wang", item, "sign")
    client = sign_in(server, "wang")
    sheet = client.get(f"/items/{item}")
    assert "暂无佐证材料" in sheet.text and "补充材料" in sheet.text
    form = client.get(f"/items/{item}/act/report")
    assert 'enctype="multipart/form-data"' in form.text and 'name="attach"' in form.text
    done = client.post(f"/items/{item}/act/report",
                       data={"csrf": csrf_of(sheet.text), "f_report": "已整改"},
                       files=[("attach", ("现场<照片>.png", PNG, "image/png")),
                              ("attach", ("说明.pdf", PDF, "application/pdf"))])
    assert done.status_code == 303, done.text
    page = client.get(f"/items/{item}").text
    photo, pdf = office.service.evidence_of("wang", item)
    assert f'<img class="thumb" src="/evidence/{photo["id"]}"' in page
    assert "现场&lt;照片&gt;.png" in page and "<照片>" not in page
    assert f'href="/evidence/{pdf["id"]}?download=1"' in page
    inline = client.get(f"/evidence/{photo['id']}")
    assert inline.headers["content-disposition"].startswith("inline;")
    assert inline.content == PNG
    bad = client.post(f"/items/{item}/evidence", data={"csrf": csrf_of(page), "note": "x"},
                      files=[("attach", ("页面.html", b"\x00\x01binary", "text/html"))])
    assert bad.status_code == 422 and "文件 页面.html 的类型不受支持" in bad.text
    no_token = client.post(f"/items/{item}/evidence", data={"note": "x"},
                           files=[("attach", ("a.pdf", PDF, "application/pdf"))])
    assert no_token.status_code == 403
    gone = client.post(f"/evidence/{pdf['id']}/withdraw",
                       data={"csrf": csrf_of(page), "item": str(item), "reason": "传错了"})
    assert gone.status_code == 303
    assert [e["name"] for e in office.service.evidence_of("wang", item)] == ["现场<照片>.png"]
    outsider = sign_in(server, "zheng")
    assert outsider.get(f"/evidence/{photo['id']}").status_code == 404
