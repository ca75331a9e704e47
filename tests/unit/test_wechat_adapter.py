"""The WeChat HTTP adapter against a fake HTTP layer (no internet).

Checked: the access token is fetched once and reused until it nearly
expires; a template message carries the openid, the configured template,
the fields and the link; WeChat's error codes are refusals, a timeout or a
server error is uncertain; a revoked token is renewed once; a web-page
authorisation code gives the openid.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from hotline.services.wechat import (
    HttpWechat,
    TemplateMessage,
    WechatRefused,
    WechatUncertain,
    make_notifier,
)
from hotline.settings import SettingsError


class FakeHttp:
    """Answers WeChat's endpoints from a script; records every request."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict | None]] = []

    def __call__(self, method: str, url: str, body: bytes | None) -> tuple[int, bytes]:
        self.requests.append((method, url, json.loads(body) if body else None))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        status, payload = answer  # type: ignore[misc]
        return status, json.dumps(payload).encode()


TOKEN = (200, {"access_token": "TOKEN-1", "expires_in": 7200})
OK = (200, {"errcode": 0, "errmsg": "ok", "msgid": 200228332})
MESSAGE = TemplateMessage("oAbc123456", "outage", {"area": "汉槐街"}, "https://x.cn/public/outages")


def adapter(http: FakeHttp, now: list[float]) -> HttpWechat:
    return HttpWechat(
        "wxAPP",
        "SECRET",
        {"outage": "TPL-OUT", "case": "TPL-CASE"},
        transport=http,
        clock=lambda: now[0],
    )


def test_a_template_message_goes_with_one_token_reused_until_it_nearly_expires():
    http = FakeHttp(TOKEN, OK, OK, (200, {"access_token": "TOKEN-2", "expires_in": 7200}), OK)
    now = [0.0]
    wx = adapter(http, now)
    assert wx.send_template(MESSAGE) == "200228332"
    wx.send_template(MESSAGE)
    now[0] = 7200 - 299  # within five minutes of expiry: renewed
    wx.send_template(MESSAGE)
    urls = [url for _m, url, _b in http.requests]
    assert [urlsplit(u).path for u in urls] == [
        "/cgi-bin/token",
        "/cgi-bin/message/template/send",
        "/cgi-bin/message/template/send",
        "/cgi-bin/token",
        "/cgi-bin/message/template/send",
    ]
    assert parse_qs(urlsplit(urls[0]).query) == {
        "grant_type": ["client_credential"],
        "appid": ["wxAPP"],
        "secret": ["SECRET"],
    }
    assert parse_qs(urlsplit(urls[-1]).query)["access_token"] == ["TOKEN-2"]
    method, _url, body = http.requests[1]
    assert method == "POST" and body == {
        "touser": "oAbc123456",
        "template_id": "TPL-OUT",
        "data": {"area": {"value": "汉槐街"}},
        "url": "https://x.cn/public/outages",
    }


def test_an_error_code_is_a_refusal_and_a_timeout_or_server_error_is_uncertain():
    http = FakeHttp(TOKEN, (200, {"errcode": 43004, "errmsg": "require subscribe"}))
    with pytest.raises(WechatRefused, match="43004"):
        adapter(http, [0.0]).send_template(MESSAGE)
    with pytest.raises(WechatUncertain):
        adapter(FakeHttp(TOKEN, TimeoutError("timed out")), [0.0]).send_template(MESSAGE)
    with pytest.raises(WechatUncertain):
        adapter(FakeHttp(TOKEN, (502, {})), [0.0]).send_template(MESSAGE)
    with pytest.raises(WechatRefused, match="40013"):
        adapter(
            FakeHttp((200, {"errcode": 40013, "errmsg": "invalid appid"})), [0.0]
        ).send_template(MESSAGE)
    with pytest.raises(WechatRefused, match="no WeChat template"):
        adapter(FakeHttp(), [0.0]).send_template(TemplateMessage("oAbc123456", "other", {}))


def test_a_revoked_token_is_renewed_once():
    http = FakeHttp(
        TOKEN,
        (200, {"errcode": 40001, "errmsg": "invalid credential"}),
        (200, {"access_token": "TOKEN-2", "expires_in": 7200}),
        OK,
    )
    assert adapter(http, [0.0]).send_template(MESSAGE) == "200228332"
    assert len(http.requests) == 4


def test_an_authorisation_code_gives_the_openid():
    http = FakeHttp((200, {"access_token": "x", "openid": "oResident_01", "scope": "snsapi_base"}))
    assert adapter(http, [0.0]).openid_for_code("CODE1") == "oResident_01"
    query = parse_qs(urlsplit(http.requests[0][1]).query)
    assert query["code"] == ["CODE1"] and query["grant_type"] == ["authorization_code"]
    with pytest.raises(WechatRefused):
        adapter(
            FakeHttp((200, {"errcode": 40029, "errmsg": "invalid code"})), [0.0]
        ).openid_for_code("bad")


def test_the_adapter_is_made_only_when_an_app_id_is_set():
    assert make_notifier({"wechat_app_id": ""}) is None
    assert isinstance(make_notifier({"wechat_app_id": "wx1", "wechat_app_secret": "s"}), HttpWechat)
    with pytest.raises(SettingsError, match="wechat_app_secret"):
        make_notifier({"wechat_app_id": "wx1", "wechat_app_secret": ""})
