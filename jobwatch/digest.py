"""Digests: many pending reports for one robot merged into few markdown messages.

A line per report (status, name, host, time, exception line), the detail of the first failure
as space allows, and @-mentions of the owners of every failed job in it (at most 50), each
digest within DingTalk's size limit. Reports that do not fit go into the next digest: none is
ever dropped.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .messages import At, Markdown
from .render import BODY_BUDGET, ICONS, LABELS, body_size

__all__ = ["digests", "summary_line"]

_MAX_MENTIONS = 50


def _title(count: int, failed: int, lang: str) -> str:
    if lang == "zh":
        return f"程序执行情况: {count} 条报告（{failed} 条失败）"
    return f"Job reports: {count} ({failed} failed)"


def summary_line(summary: dict[str, Any]) -> str:
    """One report as one markdown list line."""
    lang = summary.get("lang", "zh") if summary.get("lang") in LABELS else "zh"
    status = str(summary.get("status", "failure"))
    word = LABELS[lang].get("recovered" if summary.get("recovered") else status, status)
    when = time.strftime("%H:%M:%S", time.localtime(float(summary.get("time") or 0)))
    name = summary.get("name_md", summary.get("name", "?"))
    parts = [f"{ICONS.get(status, '')} **{name}** {word}", str(summary.get("host_md", "")), when]
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
    summaries: list[dict[str, Any]], details: list[str | None], lang: str, budget: int
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
    if detail and budget - body_size(message) > 300:
        # The longest prefix of the detail that fits, measured as sent (JSON escapes included).
        low, high = 0, len(detail)
        while low < high:
            mid = (low + high + 1) // 2
            trial = Markdown(message.title, f"{text}\n\n---\n\n{detail[:mid]}…", at=message.at)
            if body_size(trial) <= budget:
                low = mid
            else:
                high = mid - 1
        if low == len(detail) or low > 100:  # whole, or a useful part
            cut = detail
            if low < len(detail):  # at a line end if that fits, else where the room ends
                cut = detail[:low].rsplit("\n", 1)[0] + "\n\n…"
                if "\n" not in detail[:low] or body_size(
                    Markdown(message.title, f"{text}\n\n---\n\n{cut}", at=message.at)
                ) > budget:
                    cut = detail[:low] + "…"
            message = Markdown(message.title, f"{text}\n\n---\n\n{cut}", at=message.at)
    return message


def _budget(keyword: str | None) -> int:
    return BODY_BUDGET - 2 * (3 * len(keyword or "") + 3)


def _line_bytes(line: str) -> int:
    """What a line adds to the request body: its JSON-escaped UTF-8 and the newline."""
    return len(json.dumps(line, ensure_ascii=False).encode("utf-8")) - 2 + 2


def _mention_bytes(summary: dict[str, Any]) -> int:
    """An upper bound of what a report's mentions add (in ``at`` and as ``@name`` text)."""
    ids = [*summary.get("mobiles", ()), *summary.get("user_ids", ())]
    return sum(2 * len(i) + 8 for i in ids) + (20 if summary.get("all") else 0)


def digests(
    summaries: list[dict[str, Any]], details: list[str | None], *, keyword: str | None = None
) -> list[tuple[list[int], Markdown]]:
    """Digests covering every summary, each within the size limit: (indexes, message) pairs.

    Lines are packed by their measured sizes (linear), and each digest is checked as sent;
    one that still came out too large gives back its last line.
    """
    lang = summaries[0].get("lang", "zh") if summaries else "zh"
    lang = lang if lang in LABELS else "zh"
    budget = _budget(keyword)
    sizes = [_line_bytes(summary_line(s)) + _mention_bytes(s) for s in summaries]
    overhead = 400  # title, heading, JSON keys, the at object
    result: list[tuple[list[int], Markdown]] = []
    start = 0
    while start < len(summaries):
        end, used = start, overhead
        while end < len(summaries) and (end == start or used + sizes[end] <= budget):
            used += sizes[end]
            end += 1
        while True:
            message = _digest(summaries[start:end], details[start:end], lang, budget)
            if body_size(message) <= budget or end - start == 1:
                break
            end -= 1
        result.append((list(range(start, end)), message))
        start = end
    return result
