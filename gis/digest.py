"""The daily digest for leaders' group chats: overdue and at-risk counties, stale assets and
flagged reports, as markdown for the group robots of WeCom (企业微信) and DingTalk (钉钉).

``rebuild digest --as-of D`` prints it; ``--send`` posts it to ``REBUILD_DIGEST_WEBHOOK``.
Posting is retried with backoff and a failure is logged and reported, never raised into the
web app (the digest runs from cron, not from a request).
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import progress as engine
from gis import progress_lists
from gis.access import Principal
from gis.progress import STATUS_ZH

log = logging.getLogger("rebuild.digest")


@dataclass(frozen=True)
class Digest:
    title: str
    markdown: str


def build(session: Session, *, principal: Principal, as_of: dt.date, stale_days: int) -> Digest:
    """The digest for ``as_of``: what needs a leader's attention, county by county."""
    rows = engine.progress(session, principal=principal, as_of=as_of)
    title = f"灾后重建进度日报（截至 {as_of}）"
    lines = [f"## {title}", ""]
    for status in ("overdue", "at_risk"):
        hits = [r for r in rows if r.status == status and r.county_adcode]
        lines.append(f"**{STATUS_ZH[status]}**（{len(hits)} 项）")
        for r in hits[:20]:
            lines.append(
                f"- {r.county_zh} · {r.label_zh}：{r.reached}/{r.total}（{r.percent:.1f}%），"
                f"截止 {r.due_on}"
                + (f"，需日均 {r.required_per_day:.1f}" if r.required_per_day else "")
            )
        if len(hits) > 20:
            lines.append(f"- ……另有 {len(hits) - 20} 项")
        lines.append("")
    stale = progress_lists.stale(
        session, principal=principal, as_of=as_of, days=stale_days, limit=100_000
    )
    flagged = session.execute(
        text(
            "SELECT count(*) FROM asset_events e LEFT JOIN report_reviews r ON r.event_id = e.id "
            "WHERE e.flags <> '{}' AND r.event_id IS NULL AND e.received_at < :cutoff"
        ),
        {"cutoff": engine.end_of(as_of)},
    ).scalar_one()
    lines.append(f"**{stale_days} 天以上未上报的未完工项目**：{len(stale)} 个")
    lines.append(f"**待审核的存疑上报**：{flagged} 条")
    return Digest(title, "\n".join(lines))


def payload(digest: Digest, kind: str) -> dict:
    """The robot message: WeCom and DingTalk both take markdown, in different envelopes."""
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": digest.title, "text": digest.markdown}}
    return {"msgtype": "markdown", "markdown": {"content": digest.markdown}}


def signed_url(url: str, secret: str, now_ms: int) -> str:
    """DingTalk's signed webhook: timestamp and an HMAC-SHA256 of "timestamp\\nsecret"."""
    digest = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={now_ms}&sign={sign}"


def send(
    digest: Digest,
    *,
    url: str,
    kind: str = "wecom",
    secret: str | None = None,
    attempts: int = 4,
    first_wait: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Post the digest; retried with doubling waits. Returns whether it was delivered."""
    body = json.dumps(payload(digest, kind), ensure_ascii=False).encode()
    wait = first_wait
    for attempt in range(1, attempts + 1):
        target = signed_url(url, secret, int(time.time() * 1000)) if secret else url
        request = urllib.request.Request(
            target, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                reply = json.loads(answer.read() or b"{}")
            if reply.get("errcode", 0) == 0:
                return True
            log.warning("digest refused by the webhook (attempt %d): %s", attempt, reply)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            log.warning("digest not delivered (attempt %d): %s", attempt, exc)
        if attempt < attempts:
            sleep(wait)
            wait *= 2
    return False
