"""The daily digest: its text, and posting it to a group robot that the test runs itself."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy.orm import Session

from gis import digest
from gis.access import Principal

CITY = Principal(None, None, "city", "viewer", None)


class Robot:
    """A webhook receiver on 127.0.0.1 that fails the first ``failures`` posts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.posts: list[tuple[str, dict]] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                robot.posts.append((self.path, body))
                failing = len(robot.posts) <= robot.failures
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/robot/send?access_token=t"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def robot() -> Iterator[Robot]:
    made = Robot(failures=2)
    yield made
    made.server.shutdown()


def test_digest_names_what_needs_attention(session: Session, houses: dict[str, int]) -> None:
    text = digest.build(session, principal=CITY, as_of=dt.date(2021, 11, 10), stale_days=30)
    assert text.title == "灾后重建进度日报（截至 2021-11-10）"
    assert "**已逾期**" in text.markdown
    assert "卫辉市 · 一般损坏房屋完成加固修缮：2/4（50.0%），截止 2021-10-31" in text.markdown
    assert "未完工项目**：" in text.markdown and "待审核的存疑上报**：0 条" in text.markdown


def test_wecom_post_is_retried_until_delivered(robot: Robot) -> None:
    waits: list[float] = []
    report = digest.Digest("标题", "## 标题\n内容")
    assert digest.send(report, url=robot.url, kind="wecom", sleep=waits.append)
    assert len(robot.posts) == 3 and waits == [1.0, 2.0]  # two failures, backing off
    assert robot.posts[-1][1] == {"msgtype": "markdown", "markdown": {"content": "## 标题\n内容"}}


def test_dingtalk_post_is_signed(robot: Robot) -> None:
    robot.failures = 0
    report = digest.Digest("标题", "内容")
    assert digest.send(
        report, url=robot.url, kind="dingtalk", secret="SEC123", sleep=lambda s: None
    )
    path, body = robot.posts[0]
    assert body == {"msgtype": "markdown", "markdown": {"title": "标题", "text": "内容"}}
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    stamp = query["timestamp"][0]
    expected = hmac.new(b"SEC123", f"{stamp}\nSEC123".encode(), hashlib.sha256).digest()
    assert query["sign"][0] == base64.b64encode(expected).decode()
    assert query["access_token"] == ["t"]


def test_an_unreachable_webhook_gives_up_without_raising() -> None:
    waits: list[float] = []
    report = digest.Digest("t", "m")
    assert not digest.send(report, url="http://127.0.0.1:1/x", attempts=3, sleep=waits.append)
    assert waits == [1.0, 2.0]


def test_cli_prints_and_sends(database_url: str, robot: Robot) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    env = {"REBUILD_DATABASE_URL": database_url}
    printed = CliRunner().invoke(app, ["digest", "--as-of", "2022-05-31"], env=env)
    assert printed.exit_code == 0 and "灾后重建进度日报（截至 2022-05-31）" in printed.output
    unset = CliRunner().invoke(app, ["digest", "--send"], env=env)
    assert unset.exit_code == 1 and "REBUILD_DIGEST_WEBHOOK" in unset.output
    robot.failures = 0
    sent = CliRunner().invoke(
        app, ["digest", "--send"], env={**env, "REBUILD_DIGEST_WEBHOOK": robot.url}
    )
    assert sent.exit_code == 0, sent.output
    assert robot.posts[0][1]["msgtype"] == "markdown"
