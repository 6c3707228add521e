"""Render a Report as a DingTalk markdown message that fits DingTalk's limits.

The layout keeps the fields of the classic DingTalk alert (程序执行情况, 执行情况, 服务器类型,
异常信息, 时间, @mobile) and adds what on-call needs: the job name (also in the title, which is
what the notification shows), host, pid, duration, exit code and the traceback's tail.

The whole request body stays within 20,000 bytes: the head (status, name, exception type and
first line of the message) is always kept, and the traceback is cut in the middle, keeping its
first line and its innermost frames. Tokens, secrets and signs are scrubbed from every text.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

from .config import Settings, split_owners
from .messages import At, Markdown, Message
from .report import Report
from .scrub import scrub

__all__ = ["BODY_BUDGET", "ICONS", "LABELS", "body_size", "render", "summary"]

# DingTalk's limit is 20,000 bytes; the sender adds msgUuid (~50 bytes) and the keyword.
BODY_BUDGET = 19_800
_LINE_CAP = 400
_MESSAGE_CAP = 300
_NOTE_CAP = 300
_MAX_NOTES = 30
_MAX_MENTIONS = 50
_NBSP = "\u00a0"
_ORDERED = re.compile(r"\d+[.)] ")

LABELS = {
    "zh": {
        "title": "程序执行情况",
        "success": "成功", "failure": "失败", "interrupted": "被中断",
        "started": "开始运行", "overrun": "仍在运行",
        "outcome": "执行情况", "job": "任务", "host": "主机", "platform": "服务器类型",
        "time": "时间", "start": "开始时间", "duration": "耗时", "elapsed": "已运行",
        "exit": "退出码", "error": "异常信息", "python": "Python", "traceback": "错误堆栈",
        "omitted": "…… 省略 {n} 行 ……", "more": "（另有 {n} 行）",
        "recovered": "恢复", "recovered_after": "之前连续失败 {n} 次",
    },
    "en": {
        "title": "Job report",
        "success": "succeeded", "failure": "failed", "interrupted": "interrupted",
        "started": "started", "overrun": "still running",
        "outcome": "Outcome", "job": "Job", "host": "Host", "platform": "Platform",
        "time": "Time", "start": "Started", "duration": "Duration", "elapsed": "Running for",
        "exit": "Exit code", "error": "Error", "python": "Python", "traceback": "Traceback",
        "omitted": "… {n} lines omitted …", "more": "({n} more lines)",
        "recovered": "recovered", "recovered_after": "recovered after {n} failed runs",
    },
}
ICONS = {"success": "✅", "failure": "❌", "interrupted": "⚠️", "started": "▶️", "overrun": "⏰"}


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def duration_text(seconds: float, lang: str) -> str:
    """A short human duration: 0.42s / 3m 26s / 2h 5m (秒/分/小时 in Chinese)."""
    units = ("秒", "分", "小时") if lang == "zh" else ("s", "m", "h")
    if seconds < 10:
        return f"{seconds:.2f}{units[0]}"
    if seconds < 59.5:
        return f"{seconds:.0f}{units[0]}"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}{units[1]} {secs}{units[0]}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}{units[2]} {minutes}{units[1]}"


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(line: str) -> str:
    """Text as markdown shows it literally: indentation kept, emphasis markers escaped."""
    stripped = line.replace("\n", " ").lstrip(" ")
    body = stripped.replace("\\", "\\\\")
    for char in "*_<[`":
        body = body.replace(char, "\\" + char)
    if body[:1] in ("#", "-", "+", ">") or _ORDERED.match(body):  # would start a block
        body = "\\" + body
    return _NBSP * (len(line) - len(stripped)) + body


def _clean(text: str, limit: int, secrets: Sequence[str | None]) -> str:
    """``text`` scrubbed and capped at ``limit``: cut first with a margin wider than any
    secret (scrubbing megabytes is slow), scrubbed, then cut again (so no secret is half cut)."""
    margin = 2 * max((len(s) for s in secrets if s), default=0) + 512
    return _cap(scrub(text[: limit + margin], secrets), limit)


def _exception_line(report: Report, lang: str, secrets: Sequence[str | None]) -> str:
    """"Type: first line of the message", scrubbed and capped."""
    message = report.exc_message or ""
    first, _, rest = message.partition("\n")
    head = f"{report.exc_type}: {first}" if first else str(report.exc_type)
    more = rest.count("\n") + 1 if rest else 0
    label = f" {LABELS[lang]['more'].format(n=more)}" if more else ""
    return _clean(head, _MESSAGE_CAP, secrets) + label


def _frames(report: Report, secrets: Sequence[str | None], lang: str) -> list[str]:
    """The traceback's lines, with the final exception message shortened to one line (lines
    after it, such as notes added with add_note(), are kept) and the ^^^ marker lines dropped."""
    lines = (report.traceback or "").splitlines()
    if report.exc_type:
        spans = (report.exc_message or "").count("\n") + 1
        for i in range(len(lines) - 1, -1, -1):
            if lines[i] == report.exc_type or lines[i].startswith(report.exc_type + ":"):
                lines[i : i + spans] = [_exception_line(report, lang, secrets)]
                break
    return [
        _escape(_clean(line, _LINE_CAP, secrets))
        for line in lines
        if line.strip(" ~^")
    ]


def _head(report: Report, lang: str, secrets: Sequence[str | None]) -> list[str]:
    labels = LABELS[lang]
    status = _status_word(report, labels)
    fields = [
        (labels["outcome"], status),
        (labels["job"], report.name),
        (labels["host"], f"{report.host} (pid {report.pid})"),
        (labels["platform"], report.platform),
        (labels["time"], _when(report.ended or time.time())),
    ]
    if report.ended is not None:
        fields.append((labels["start"], _when(report.started)))
    if report.duration is not None:
        key = "duration" if report.ended is not None else "elapsed"
        fields.append((labels[key], duration_text(report.duration, lang)))
    if report.recovered_after is not None:
        fields.append((labels["recovered"], labels["recovered_after"].format(
            n=report.recovered_after)))
    if report.exit_code is not None:
        fields.append((labels["exit"], str(report.exit_code)))
    if report.exc_type:
        fields.append((labels["error"], _exception_line(report, lang, secrets)))
    fields.append((labels["python"], report.python))
    fields += [
        (_clean(k, 60, secrets), _clean(v, _NOTE_CAP, secrets))
        for k, v in report.notes[:_MAX_NOTES]
    ]
    icon = "🔁" if report.recovered_after is not None else ICONS.get(report.status, "")
    lines = [f"### {icon} {_escape(scrub(report.name, secrets))} {status}"]
    lines += [  # the classic alert's style: the whole "label: value" in bold
        f"**{_escape(scrub(label, secrets))}: {_escape(scrub(value, secrets))}**"
        for label, value in fields
    ]
    return lines


def _status_word(report: Report, labels: dict[str, str]) -> str:
    return labels["recovered"] if report.recovered_after is not None else labels[report.status]


def _mentions(report: Report, settings: Settings) -> At | None:
    if not report.failed:
        return None
    if settings.mention_all:
        return At(all=True)
    mobiles, user_ids = split_owners(report.owners)
    if not mobiles and not user_ids:
        return None
    mobiles = mobiles[:_MAX_MENTIONS]
    return At(mobiles=mobiles, user_ids=user_ids[: _MAX_MENTIONS - len(mobiles)])


def body_size(message: Message) -> int:
    """The size of ``message`` as a request body, before the sender adds msgUuid and keyword."""
    body = json.dumps(message.payload(), ensure_ascii=False, separators=(",", ":"))
    return len(body.encode("utf-8"))


def render(report: Report, settings: Settings) -> Markdown:
    """The default markdown message for ``report``, within DingTalk's size limit."""
    lang = settings.lang if settings.lang in LABELS else "zh"
    labels = LABELS[lang]
    secrets = (settings.secret, _token(settings.webhook))
    title = scrub(f"{labels['title']}: {report.name} {_status_word(report, labels)}", secrets)
    title = _cap(title, 120)
    heading, *lines = _head(report, lang, secrets)
    head = heading + "\n\n" + "  \n".join(lines)
    at = _mentions(report, settings)
    budget = BODY_BUDGET - 2 * (3 * len(settings.keyword or "") + 3)  # keyword in title, text

    def build(frames: list[str]) -> Markdown:
        if not frames:
            return Markdown(title, head, at=at)
        quoted = "  \n".join(f"> {line}" for line in frames)
        return Markdown(title, f"{head}\n\n**{labels['traceback']}:**\n\n{quoted}", at=at)

    frames = _frames(report, secrets, lang)
    message = build(frames)
    if body_size(message) <= budget:
        return message
    # Keep the first line and the longest tail that fits, found by bisection.
    low, high = 0, len(frames) - 1
    while low < high:
        keep = (low + high + 1) // 2
        omitted = len(frames) - 1 - keep
        candidate = [frames[0], labels["omitted"].format(n=omitted), *frames[len(frames) - keep:]]
        if body_size(build(candidate)) <= budget:
            low = keep
        else:
            high = keep - 1
    if low == 0:
        return _fit_head(build([]), budget)
    omitted = len(frames) - 1 - low
    return build([frames[0], labels["omitted"].format(n=omitted), *frames[len(frames) - low:]])


def _fit_head(message: Markdown, budget: int) -> Markdown:
    """Last resort (a head larger than the budget): cut the text by bytes."""
    text = message.text
    while body_size(message) > budget and text:
        excess = body_size(message) - budget
        text = text[: max(0, len(text) - max(excess // 3, 1) - 1)] + "…"
        message = Markdown(message.title, text, at=message.at)
    return message


def summary(report: Report, settings: Settings) -> dict[str, Any]:
    """What a digest line needs of a report (markdown-ready, scrubbed), and who to mention."""
    lang = settings.lang if settings.lang in LABELS else "zh"
    secrets = (settings.secret, _token(settings.webhook))
    at = _mentions(report, settings)
    facts: dict[str, Any] = {
        "name": report.name,
        "status": report.status,
        "time": report.ended or time.time(),
        "lang": lang,
        "name_md": _escape(_clean(report.name, 80, secrets)),
        "host_md": _escape(_clean(report.host, 60, secrets)),
        "line_md": _escape(_exception_line(report, lang, secrets)) if report.exc_type else "",
        "recovered": report.recovered_after is not None,
    }
    if at is not None:
        facts.update(mobiles=list(at.mobiles), user_ids=list(at.user_ids), all=at.all)
    return facts


def _token(webhook: str | None) -> str | None:
    if not webhook:
        return None
    from .senders.signing import Webhook

    try:
        return Webhook.parse(webhook).token
    except ValueError:
        return None
