"""A small browser stand-in over http.client: cookies, CSRF token, no redirects followed."""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Answer:
    status: int
    location: str
    body: str


class WebClient:
    def __init__(self, port: int, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(self, method: str, path: str, data: dict | None = None) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            headers = {}
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            body = None
            if data is not None:
                body = urlencode(data)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                for key, morsel in SimpleCookie(header).items():
                    self.cookies[key] = morsel.value
            answer = Answer(response.status, response.headers.get("Location", ""), text)
        finally:
            conn.close()
        if match := _TOKEN.search(answer.body):
            self.token = match.group(1)
        return answer

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, data: dict) -> Answer:
        return self.request("POST", path, {"csrf_token": self.token, **data})

    def login(self, username: str, password: str = "radbook-demo") -> None:
        self.cookies.clear()
        self.get("/login")
        answer = self.post("/login", {"username": username, "password": password})
        if answer.status != 302:
            raise AssertionError(f"login as {username} failed: {answer.status}")
        self.token = ""  # the session starts afresh at login, with a new CSRF token
