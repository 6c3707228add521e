"""Digests: many pending reports for one robot merged into few markdown messages.

A line per report (status, name, host, time, exception line), the detail of the first failure
as space allows, and @-mentions of the owners of every failed job in it (at most 50), each
digest within DingTalk's size limit. Reports that do not fit go into the next digest: none is
ever dropped.
"""

from __future__ import annotations

import time
from typing import Any

from .messages import At, Markdown
from .render import BODY_BUDGET, body_size

__all__ = ["digests", "summary_line"]

_ICONS = {"success": "✅", "failure": "❌", "interrupted": "⚠️", "started": "▶️", "overrun": "⏰"}
_WORDS = {
    "zh": {"success": "成功", "failure": "失败", "interrupted": "被中断", "started": "开始运行",
           "overrun": "仍在运行", "recovered": "恢复"},
    "en": {"success": "succeeded", "failure": "failed", "interrupted": "interrupted",
           "started": "started", "overrun": "still running", "recovered": "recovered"},
}
_MAX_MENTIONS = 50


def _title(count: int, failed: int, lang: str) -> str:
    if lang == "zh":
        return f"程序执行情况: {count} 条报告（{failed} 条失败）"
    return f"Job reports: {count} ({failed} failed)"


def summary_line(summary: dict[str, Any]) -> str:
    """One report as one markdown list line."""
    lang = summary.get("lang", "zh") if summary.get("lang") in _WORDS else "zh"
    status = str(summary.get("status", "failure"))
    word = _WORDS[lang].get("recovered" if summary.get("recovered") else status, status)
    when = time.strftime("%H:%M:%S", time.localtime(float(summary.get("time") or 0)))
    name = summary.get("name_md", summary.get("name", "?"))
    parts = [f"{_ICONS.get(status, '')} **{name}** {word}", str(summary.get("host_md", "")), when]
    if summary.get("line_md"):
        parts.append(str(summary["line_md"]))
    return "- " + " · ".join(p for p in parts if p)


def _mentions(summaries: list[dict[str, Any]]) -> At | None:
    failed = [s for s in summaries if s.get("status") in ("failure", "interrupted")]
    if any(s.get("all") for s in failed):
        return At(all=True)
    mobiles = list(dict.fromkeys(m for s in failed for m in s.get("mobiles", ())))
    user_ids = list(dict.fromkeys(u for s in failed for u in s.get("user_ids", ())))
    mobiles = mobiles[:_MAX_MENTIONS]
    user_ids = user_ids[: _MAX_MENTIONS - len(mobiles)]
    return At(mobiles=mobiles, user_ids=user_ids) if mobiles or user_ids else None


def _digest(
    summaries: list[dict[str, Any]], details: list[str | None], lang: str, keyword: str | None
) -> Markdown:
    failed = sum(1 for s in summaries if s.get("status") in ("failure", "interrupted"))
    lines = [summary_line(s) for s in summaries]
    head = f"### 📋 {_title(len(summaries), failed, lang).split(': ', 1)[1]}\n\n"
    text = head + "\n".join(lines)
    detail = next(
        (d for s, d in zip(summaries, details, strict=True) if d and s.get("status") == "failure"),
        None,
    )
    message = Markdown(_title(len(summaries), failed, lang), text, at=_mentions(summaries))
    if detail:
        budget = _budget(keyword)
        room = budget - body_size(message) - 16
        if room > 200:
            cut = detail.encode("utf-8")[: room // 2].decode("utf-8", "ignore")  # JSON escapes
            if len(cut) < len(detail):
                cut = cut.rsplit("\n", 1)[0] + "\n\n…"
            message = Markdown(message.title, f"{text}\n\n---\n\n{cut}", at=message.at)
    return message


def _budget(keyword: str | None) -> int:
    return BODY_BUDGET - 2 * (3 * len(keyword or "") + 3)


def digests(
    summaries: list[dict[str, Any]], details: list[str | None], *, keyword: str | None = None
) -> list[tuple[list[int], Markdown]]:
    """Digests covering every summary, each within the size limit: (indexes, message) pairs."""
    lang = summaries[0].get("lang", "zh") if summaries else "zh"
    lang = lang if lang in _WORDS else "zh"
    budget = _budget(keyword)
    result: list[tuple[list[int], Markdown]] = []
    start = 0
    while start < len(summaries):
        end = start + 1
        while end < len(summaries):
            trial = _digest(summaries[start : end + 1], [None] * (end + 1 - start), lang, keyword)
            if body_size(trial) > budget:
                break
            end += 1
        chunk = list(range(start, end))
        result.append((chunk, _digest(summaries[start:end], details[start:end], lang, keyword)))
        start = end
    return result
