"""Helpers for page tests: read hidden inputs and forms out of a page, log in."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from tests.support import PASSWORD


class _Forms(HTMLParser):
    """Collects each form's attributes and the name/value of its inputs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self.loose_inputs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = {"attrs": values, "fields": {}}
            self.forms.append(self._current)
        elif tag == "input" and values.get("name"):
            target = self._current["fields"] if self._current is not None else self.loose_inputs
            target.setdefault(values["name"], values.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_of(html: str) -> list[dict[str, Any]]:
    """Every form of the page: ``{"attrs": {...}, "fields": {name: value}}``."""
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def action_form(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the case page's form for ``action``."""
    for form in forms_of(html):
        if form["attrs"].get("data-action") == action:
            return form["fields"]
    raise AssertionError(f"the page has no form for the action {action!r}")


def csrf_from(html: str) -> str:
    """The CSRF token of the first form that carries one."""
    for form in forms_of(html):
        token = form["fields"].get("csrf_token")
        if token:
            return token
    raise AssertionError("the page has no csrf_token input")


def csrf_token(client: Any, path: str = "/login") -> str:
    """Fetch ``path`` and read the CSRF token out of its forms."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return csrf_from(response.get_data(as_text=True))


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log in through the login form; returns the (unfollowed) response."""
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
    )


def logged_in(client: Any, username: str) -> Any:
    """Log ``username`` in and check that it worked; returns the client."""
    response = login(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def text_of(response: Any) -> str:
    return response.get_data(as_text=True)
