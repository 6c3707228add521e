"""Tests of jobwatch.render: the default markdown message, mentions, size limit and scrubbing."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Any

import pytest

import jobwatch
from jobwatch.config import Settings
from jobwatch.messages import At, Markdown
from jobwatch.render import duration_text, render
from jobwatch.report import Report, build

STARTED = 1_700_000_000.0
ENDED = STARTED + 206.0
NBSP = "\u00a0"
TB = (
    "Traceback (most recent call last):\n"
    '  File "/srv/etl/run.py", line 88, in main\n'
    "    load(rows)\n"
    '  File "/srv/etl/load.py", line 12, in load\n'
    "    check(row)\n"
    "ValueError: bad row 42\n"
)
LIMIT = 20_000
KEYWORD = "告警告警告警告警告警"
SENDER = jobwatch.DingTalkSender("t" * 64, keyword=KEYWORD)
TOKEN = "TOKEN1234567890"
SECRET = "SECsecretvalue123"
WEBHOOK = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"


def make_report(**changes: Any) -> Report:
    """A fixed failure report of nightly-etl; ``changes`` replace fields."""
    base = Report(
        name="nightly-etl",
        status="failure",
        started=STARTED,
        ended=ENDED,
        duration=206.0,
        host="web-1",
        platform="linux",
        pid=4242,
        python="3.12.1",
        exc_type="ValueError",
        exc_message="bad row 42",
        traceback=TB,
    )
    return dataclasses.replace(base, **changes)


def local(epoch: float) -> str:
    """The local time as the report shows it."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def lines(message: Markdown) -> list[str]:
    """The message text's lines without the markdown hard-break spaces."""
    return [line.removesuffix("  ") for line in message.text.split("\n")]


def quoted(message: Markdown) -> list[str]:
    """The traceback lines of the message, without their '> ' prefix."""
    text = lines(message)
    start = next(i for i, line in enumerate(text) if line in ("**错误堆栈:**", "**Traceback:**"))
    rest = [line for line in text[start + 1:] if line]
    assert all(line.startswith("> ") for line in rest), rest
    return [line[2:] for line in rest]


def md(line: str) -> str:
    """A traceback line as markdown shows it literally: indentation as NBSP, markers escaped."""
    stripped = line.lstrip(" ")
    body = stripped.replace("\\", "\\\\")
    for char in "*_<[":
        body = body.replace(char, "\\" + char)
    return NBSP * (len(line) - len(stripped)) + body


def payload_text(message: Markdown) -> str:
    """The markdown text as sent, mentions appended."""
    text: str = message.payload()["markdown"]["text"]
    return text


def body_size(message: Markdown) -> int:
    """The request body size in bytes, before the sender adds msgUuid and keyword."""
    return len(json.dumps(message.payload(), ensure_ascii=False, separators=(",", ":")).encode())


def wire_size(message: Markdown) -> int:
    """The request body size as a sender with a 10-character CJK keyword posts it."""
    return len(SENDER.encode(message, "0" * 32))


# --- titles and fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "lang", "title"),
    [
        ("failure", "zh", "程序执行情况: nightly-etl 失败"),
        ("success", "zh", "程序执行情况: nightly-etl 成功"),
        ("interrupted", "zh", "程序执行情况: nightly-etl 被中断"),
        ("failure", "en", "Job report: nightly-etl failed"),
        ("success", "en", "Job report: nightly-etl succeeded"),
        ("interrupted", "en", "Job report: nightly-etl interrupted"),
    ],
)
def test_title(status: str, lang: str, title: str) -> None:
    """The title (what the notification shows) names the job and its outcome."""
    assert render(make_report(status=status), Settings(lang=lang)).title == title


def test_chinese_fields() -> None:
    """The default message keeps the seed sample's Chinese fields and adds job, host, duration."""
    text = lines(render(make_report(exit_code=3), Settings()))
    assert text[0] == "### ❌ nightly-etl 失败"
    for field in [
        "**执行情况: 失败**",
        "**任务: nightly-etl**",
        "**主机: web-1 (pid 4242)**",
        "**服务器类型: linux**",
        f"**时间: {local(ENDED)}**",
        f"**开始时间: {local(STARTED)}**",
        "**耗时: 3分 26秒**",
        "**退出码: 3**",
        "**异常信息: ValueError: bad row 42**",
        "**Python: 3.12.1**",
    ]:
        assert field in text


def test_english_fields() -> None:
    """With lang='en' the same fields carry English labels."""
    text = lines(render(make_report(exit_code=3), Settings(lang="en")))
    assert text[0] == "### ❌ nightly-etl failed"
    for field in [
        "**Outcome: failed**",
        "**Job: nightly-etl**",
        "**Host: web-1 (pid 4242)**",
        "**Platform: linux**",
        f"**Time: {local(ENDED)}**",
        f"**Started: {local(STARTED)}**",
        "**Duration: 3m 26s**",
        "**Exit code: 3**",
        "**Error: ValueError: bad row 42**",
    ]:
        assert field in text


def test_no_exit_code_line_without_exit_code() -> None:
    """The exit code line appears only when the report has an exit code."""
    text = lines(render(make_report(exit_code=None), Settings()))
    assert [line for line in text if line.startswith("**退出码: ")] == []


def test_notes_are_fields() -> None:
    """Notes appear as bold-labelled fields, in order."""
    text = lines(render(make_report(notes=(("rows", "1200"), ("file", "a.csv"))), Settings()))
    assert text.index("**rows: 1200**") + 1 == text.index("**file: a.csv**")


def test_traceback_quoted_without_fences() -> None:
    """The traceback is rendered as '> ' quoted lines, indentation kept, with no code fence."""
    message = render(make_report(), Settings())
    assert "```" not in message.text
    assert quoted(message) == [
        "Traceback (most recent call last):",
        f'{NBSP * 2}File "/srv/etl/run.py", line 88, in main',
        f"{NBSP * 4}load(rows)",
        f'{NBSP * 2}File "/srv/etl/load.py", line 12, in load',
        f"{NBSP * 4}check(row)",
        "ValueError: bad row 42",
    ]


def test_markdown_markers_escaped() -> None:
    """Emphasis and link markers in names, messages and traceback lines are escaped."""
    report = make_report(
        name="etl.Loader.__init__",
        exc_message="bad *row* [42] <x>",
        traceback=(
            "Traceback (most recent call last):\n"
            '  File "/srv/etl/loader.py", line 10, in __init__\n'
            "    self._load(**row)\n"
            "ValueError: bad *row* [42] <x>\n"
        ),
    )
    message = render(report, Settings())
    text = lines(message)
    assert text[0] == "### ❌ etl.Loader.\\_\\_init\\_\\_ 失败"
    assert "**任务: etl.Loader.\\_\\_init\\_\\_**" in text
    assert "**异常信息: ValueError: bad \\*row\\* \\[42] \\<x>**" in text
    assert quoted(message) == [
        "Traceback (most recent call last):",
        f'{NBSP * 2}File "/srv/etl/loader.py", line 10, in \\_\\_init\\_\\_',
        f"{NBSP * 4}self.\\_load(\\*\\*row)",
        "ValueError: bad \\*row\\* \\[42] \\<x>",
    ]
    assert message.title == "程序执行情况: etl.Loader.__init__ 失败"


@pytest.mark.parametrize(
    ("lang", "field", "last"),
    [
        ("zh", "**异常信息: ValueError: bad row 42 （另有 2 行）**",
         "ValueError: bad row 42 （另有 2 行）"),
        ("en", "**Error: ValueError: bad row 42 (2 more lines)**",
         "ValueError: bad row 42 (2 more lines)"),
    ],
)
def test_multiline_message(lang: str, field: str, last: str) -> None:
    """A multi-line exception message shows its first line and how many lines follow."""
    message_text = "bad row 42\ncolumn: price\nvalue: -1"
    report = make_report(
        exc_message=message_text, traceback=TB.replace("bad row 42", message_text)
    )
    message = render(report, Settings(lang=lang))
    assert field in lines(message)
    assert quoted(message)[-1] == last
    assert "column: price" not in message.text


# --- duration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "en", "zh"),
    [
        (0.42, "0.42s", "0.42秒"),
        (59, "59s", "59秒"),
        (59.7, "1m 0s", "1分 0秒"),
        (206, "3m 26s", "3分 26秒"),
        (7500, "2h 5m", "2小时 5分"),
    ],
)
def test_duration_text(seconds: float, en: str, zh: str) -> None:
    """Durations read as 0.42s / 59s / 3m 26s / 2h 5m (秒/分/小时 in Chinese)."""
    assert (duration_text(seconds, "en"), duration_text(seconds, "zh")) == (en, zh)


# --- mentions ---------------------------------------------------------------------------------

OWNERS = ("13800000000", "user_a")


@pytest.mark.parametrize("status", ["failure", "interrupted"])
def test_owners_mentioned_on_failure(status: str) -> None:
    """On failure and interruption owners are in `at` and written as @name in the text."""
    message = render(make_report(status=status, owners=OWNERS), Settings())
    assert message.at == At(mobiles=("13800000000",), user_ids=("user_a",))
    assert message.payload()["at"] == {
        "atMobiles": ["13800000000"], "atUserIds": ["user_a"], "isAtAll": False,
    }
    assert "@13800000000" in payload_text(message)
    assert "@user_a" in payload_text(message)


@pytest.mark.parametrize("status", ["success", "started", "overrun"])
def test_owners_not_mentioned_otherwise(status: str) -> None:
    """Success, start and overrun messages mention nobody."""
    ended = None if status in ("started", "overrun") else ENDED
    report = make_report(status=status, ended=ended, owners=OWNERS, exc_type=None,
                         exc_message=None, traceback=None)
    message = render(report, Settings(mention_all=True))
    assert message.at is None
    assert "at" not in message.payload()
    assert "@" not in payload_text(message)


def test_owner_mobile_with_spaces() -> None:
    """A mobile written with spaces is mentioned without them."""
    message = render(make_report(owners=("138 0000 0000",)), Settings())
    assert message.at == At(mobiles=("13800000000",))
    assert "@13800000000" in payload_text(message)


def test_mention_all() -> None:
    """mention_all=True mentions everyone and lists no individual owner."""
    message = render(make_report(owners=OWNERS), Settings(mention_all=True))
    assert message.at == At(all=True)
    assert message.payload()["at"] == {"isAtAll": True}
    assert "@13800000000" not in payload_text(message)
    assert "@user_a" not in payload_text(message)


def test_mentions_cut_to_fifty() -> None:
    """More than 50 owners are cut to the first 50, DingTalk's limit."""
    owners = tuple(f"1380000{i:04d}" for i in range(60))
    message = render(make_report(owners=owners), Settings())
    assert message.at == At(mobiles=owners[:50])
    assert "@13800000049" in payload_text(message)
    assert "@13800000050" not in payload_text(message)


def test_mixed_mentions_cut_to_fifty() -> None:
    """With mobiles and user ids over 50 in all, at most 50 are mentioned."""
    mobiles = tuple(f"1380000{i:04d}" for i in range(30))
    user_ids = tuple(f"user_{i}" for i in range(30))
    message = render(make_report(owners=mobiles + user_ids), Settings())
    assert message.at == At(mobiles=mobiles, user_ids=user_ids[:20])


# --- size -------------------------------------------------------------------------------------


def assert_fits(message: Markdown) -> None:
    """The body fits DingTalk's limit, also with msgUuid and a 10-character CJK keyword."""
    assert body_size(message) <= LIMIT
    assert wire_size(message) <= LIMIT


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_huge_multiline_message_fits(lang: str) -> None:
    """A 200 KB exception message fits; the head and the message's first line are kept."""
    rest = "\n".join(f"row {i}: " + "x" * 90 for i in range(2000))
    exc_message = "bad row 42\n" + rest
    assert len(exc_message) > 200_000
    report = make_report(exc_message=exc_message, traceback=TB.replace("bad row 42", exc_message))
    message = render(report, Settings(lang=lang))
    assert_fits(message)
    if lang == "zh":
        assert message.title == "程序执行情况: nightly-etl 失败"
        assert "**异常信息: ValueError: bad row 42 （另有 2000 行）**" in lines(message)
    else:
        assert message.title == "Job report: nightly-etl failed"
        assert "**Error: ValueError: bad row 42 (2000 more lines)**" in lines(message)
    assert quoted(message)[-3] == md('  File "/srv/etl/load.py", line 12, in load')


def test_huge_single_line_message_fits() -> None:
    """A 200 KB one-line exception message fits, keeping the head and the message's start."""
    exc_message = "x" * 200_000
    report = make_report(exc_message=exc_message, traceback=TB.replace("bad row 42", exc_message))
    message = render(report, Settings())
    assert_fits(message)
    text = lines(message)
    assert text[0] == "### ❌ nightly-etl 失败"
    assert "**执行情况: 失败**" in text
    assert any(line.startswith("**异常信息: ValueError: " + "x" * 200) for line in text)
    assert quoted(message)[-3] == md('  File "/srv/etl/load.py", line 12, in load')


def deep_traceback(frames: int, filename: str, function: str) -> str:
    """A traceback text with ``frames`` frames, two lines each."""
    body = "".join(
        f'  File "{filename}", line {n}, in {function}\n    call()\n' for n in range(frames)
    )
    return "Traceback (most recent call last):\n" + body + "ValueError: boom"


@pytest.mark.parametrize(
    ("lang", "filename", "function", "owners", "marker"),
    [
        ("zh", "x.py", "f", (), "…… 省略 {n} 行 ……"),
        ("en", "x.py", "f", (), "… {n} lines omitted …"),
        ("zh", "/srv/任务/处理.py", "处理_数据", tuple(f"1380000{i:04d}" for i in range(50)),
         "…… 省略 {n} 行 ……"),
    ],
    ids=["zh", "en", "cjk-frames-50-owners"],
)
def test_deep_traceback_cut_in_the_middle(
    lang: str, filename: str, function: str, owners: tuple[str, ...], marker: str
) -> None:
    """5,000 frames fit: first line, a marker counting the cut lines, then the innermost tail."""
    report = make_report(traceback=deep_traceback(5000, filename, function),
                         exc_message="boom", owners=owners)
    message = render(report, Settings(lang=lang))
    assert_fits(message)
    expected = [md(line) for line in report.traceback.splitlines()]  # type: ignore[union-attr]
    shown = quoted(message)
    assert shown[0] == "Traceback (most recent call last):"
    tail = shown[2:]
    assert len(tail) >= 3
    assert tail == expected[-len(tail):]
    assert shown[1] == marker.format(n=len(expected) - 1 - len(tail))
    assert tail[-1] == "ValueError: boom"
    assert tail[-3] == md(f'  File "{filename}", line 4999, in {function}')
    if lang == "zh":
        assert "**异常信息: ValueError: boom**" in lines(message)
    else:
        assert "**Error: ValueError: boom**" in lines(message)
    for owner in owners:
        assert f"@{owner}" in payload_text(message)


def _ping(depth: int) -> int:
    return _pong(depth + 1)


def _pong(depth: int) -> int:
    return _ping(depth + 1)


def test_recursion_error_fits() -> None:
    """A real RecursionError's traceback fits, keeping the innermost frame and the error line."""
    try:
        _ping(0)
    except RecursionError as exc:
        report = build("deep-job", "failure", started=STARTED, ended=ENDED, duration=206.0,
                       exc=exc)
    assert report.traceback is not None
    assert len(report.traceback.encode()) > 3 * LIMIT
    message = render(report, Settings())
    assert_fits(message)
    raw = report.traceback.splitlines()
    innermost = next(line for line in reversed(raw) if line.lstrip().startswith("File "))
    shown = quoted(message)
    assert md(innermost) in shown
    assert shown[-1] == "RecursionError: maximum recursion depth exceeded"
    assert re.fullmatch(r"…… 省略 \d+ 行 ……", shown[1])


# --- secrets ----------------------------------------------------------------------------------

LEAK = f"POST {WEBHOOK}&timestamp=1700000000000&sign=abc%2Bdef failed; secret {SECRET}; {TOKEN}"


@pytest.mark.parametrize(
    "where",
    ["exc_message", "traceback", "note value", "note key", "name"],
)
def test_secrets_scrubbed(where: str) -> None:
    """The configured token and secret and any sign= value never reach the message."""
    placements: dict[str, dict[str, Any]] = {
        "exc_message": {"exc_message": LEAK, "traceback": TB.replace("bad row 42", LEAK)},
        "traceback": {"traceback": TB.replace("    load(rows)", f"    post({LEAK!r})")},
        "note value": {"notes": (("request", LEAK),)},
        "note key": {"notes": ((f"{SECRET} {TOKEN}", "failed"),)},
        "name": {"name": f"job {SECRET} {TOKEN}"},
    }
    changes = placements[where]
    message = render(make_report(**changes), Settings(webhook=WEBHOOK, secret=SECRET))
    body = SENDER.encode(message, "0" * 32).decode()
    for secret in (TOKEN, SECRET, "abc%2Bdef"):
        assert secret not in body
    assert "\\*\\*\\*" in message.text


@pytest.mark.parametrize(
    ("changes", "secret"),
    [
        ({"exc_message": "x" * 272 + " " + TOKEN + " failed"}, TOKEN),
        ({"notes": (("request", "y" * 282 + " " + SECRET + " failed"),)}, SECRET),
        ({"notes": (("k" * 44 + " " + TOKEN + " failed", "v"),)}, TOKEN),
    ],
    ids=["token-in-long-message", "secret-in-long-note", "token-in-long-note-key"],
)
def test_secret_cut_by_length_cap_not_leaked(changes: dict[str, Any], secret: str) -> None:
    """A secret that a length cap would cut short is still masked, not shown minus a character."""
    if "exc_message" in changes:
        changes["traceback"] = TB.replace("bad row 42", changes["exc_message"])
    message = render(make_report(**changes), Settings(webhook=WEBHOOK, secret=SECRET))
    assert secret[:-1] not in SENDER.encode(message, "0" * 32).decode()


def test_exception_notes_are_kept_after_the_message() -> None:
    """Notes added with add_note() stay in the traceback after the shortened message."""
    try:
        exc = ValueError("first line\nsecond line")
        exc.add_note("while loading shard 7")
        raise exc
    except ValueError as caught:
        report = build("job", "failure", started=0.0, duration=1.0, ended=1.0, exc=caught)
    rendered = quoted(render(report, Settings()))
    assert rendered[-2:] == [
        "ValueError: first line （另有 1 行）",
        "while loading shard 7",
    ]


def test_caret_lines_are_dropped_and_block_markers_escaped() -> None:
    """Python 3.11's ^^^ marker lines are dropped; a line that would start a block is escaped."""
    trace = (
        "Traceback (most recent call last):\n"
        '  File "job.py", line 3, in <module>\n'
        "    # comment-like code\n"
        "    total = rows[0] + rows[1]\n"
        "            ~~~~~~~~^~~~~~~~~\n"
        "ValueError: bad\n"
    )
    report = make_report(traceback=trace, exc_message="bad", exc_type="ValueError")
    assert quoted(render(report, Settings())) == [
        "Traceback (most recent call last):",
        "\xa0\xa0" + md('File "job.py", line 3, in <module>'),
        "\xa0\xa0\xa0\xa0\\# comment-like code",
        "\xa0\xa0\xa0\xa0total = rows[0] + rows[1]".replace("[", "\\["),
        "ValueError: bad",
    ]
