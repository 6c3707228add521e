"""Tests of jobwatch.digest: many pending reports merged into few markdown messages."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import jobwatch
from jobwatch.config import Settings
from jobwatch.digest import digests
from jobwatch.messages import At, Markdown
from jobwatch.render import BODY_BUDGET, render, summary
from jobwatch.report import Report

ENDED = 1_700_000_000.0
KEYWORD = "告警告警"
SENDER = jobwatch.DingTalkSender("t" * 64, keyword=KEYWORD)
ZH, EN = Settings(lang="zh"), Settings(lang="en")
TB = (
    "Traceback (most recent call last):\n"
    '  File "/srv/etl/run.py", line 88, in main\n'
    "    load(rows)\n"
    "ValueError: bad row 42\n"
)


def make(name: str, status: str = "failure", **changes: Any) -> Report:
    """A report of job ``name`` on web-1, ended at ENDED; a failure raised ValueError."""
    failed = status in ("failure", "interrupted")
    base = Report(
        name=name, status=status, started=ENDED - 5, ended=ENDED, duration=5.0, host="web-1",
        platform="linux", pid=4242, python="3.12.1",
        exc_type="ValueError" if status == "failure" else None,
        exc_message="bad row 42" if status == "failure" else None,
        traceback=TB if status == "failure" else None,
        exit_code=1 if failed else None,
    )
    return dataclasses.replace(base, **changes)


def hms(epoch: float = ENDED) -> str:
    """The local time of day as a digest line shows it."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def body(message: Markdown) -> bytes:
    """The request body of ``message`` (compact UTF-8 JSON, as the sender posts it)."""
    return json.dumps(message.payload(), ensure_ascii=False, separators=(",", ":")).encode()


def budget(keyword: str | None) -> int:
    """BODY_BUDGET less room for the keyword (added to both the title and the text)."""
    room = len(json.dumps(" " + keyword, ensure_ascii=False).encode()) - 2
    room += len(json.dumps("\n\n" + keyword, ensure_ascii=False).encode()) - 2
    return BODY_BUDGET - room if keyword else BODY_BUDGET


def fits(message: Markdown) -> bool:
    """Whether ``message`` is within the budget, and the sender's body within 20,000 bytes."""
    return (
        len(body(message)) <= budget(KEYWORD)
        and len(SENDER.encode(message, "0" * 32)) <= 20_000
    )


def dict_summary(name: str, status: str = "failure", **more: Any) -> dict[str, Any]:
    """A plain summary dict, as stored in the outbox."""
    return {
        "name": name, "status": status, "time": ENDED, "lang": "zh", "name_md": name,
        "host_md": "web-1", "line_md": "ValueError: bad" if status == "failure" else "",
        "recovered": False, **more,
    }


def three(settings: Settings) -> list[dict[str, Any]]:
    """extract failed, load succeeded, report failed."""
    return [
        summary(make("extract"), settings),
        summary(make("load", "success"), settings),
        summary(make("report", exc_type="KeyError", exc_message="'day'"), settings),
    ]


# -- one digest --------------------------------------------------------------------------


def test_a_handful_is_one_digest() -> None:
    """A few reports become one digest covering all of them."""
    result = digests(three(ZH), [None, None, None])
    assert [ids for ids, _m in result] == [[0, 1, 2]]
    assert isinstance(result[0][1], Markdown)


def test_no_reports_no_digest() -> None:
    """No summaries give no digest."""
    assert digests([], []) == []


def test_zh_digest_text() -> None:
    """The zh digest: title with counts, then one line per report in order."""
    [(_ids, message)] = digests(three(ZH), [None, None, None])
    assert message.title == "程序执行情况: 3 条报告（2 条失败）"
    assert message.text == (
        "### 📋 3 条报告（2 条失败）\n\n"
        f"- ❌ **extract** 失败 · web-1 · {hms()} · ValueError: bad row 42\n"
        f"- ✅ **load** 成功 · web-1 · {hms()}\n"
        f"- ❌ **report** 失败 · web-1 · {hms()} · KeyError: 'day'"
    )
    assert message.at is None


def test_en_digest_text() -> None:
    """The en digest: English title and status words."""
    [(_ids, message)] = digests(three(EN), [None, None, None])
    assert message.title == "Job reports: 3 (2 failed)"
    assert message.text == (
        "### 📋 3 (2 failed)\n\n"
        f"- ❌ **extract** failed · web-1 · {hms()} · ValueError: bad row 42\n"
        f"- ✅ **load** succeeded · web-1 · {hms()}\n"
        f"- ❌ **report** failed · web-1 · {hms()} · KeyError: 'day'"
    )


def test_line_shows_local_time_and_escaped_name() -> None:
    """A line shows the report's own end time (local HH:MM:SS) and its markdown-safe name."""
    when = ENDED + 3_723.0
    reports = [make("etl_daily", ended=when), make("b", "success")]
    [(_ids, message)] = digests([summary(r, ZH) for r in reports], [None, None])
    first = message.text.split("\n")[2]
    assert first == f"- ❌ **etl\\_daily** 失败 · web-1 · {hms(when)} · ValueError: bad row 42"


def test_recovered_is_shown() -> None:
    """A recovery shows 恢复 (zh) or recovered (en) instead of the success word."""
    fixed = make("etl", "success", recovered_after=3)
    for settings, word in ((ZH, "恢复"), (EN, "recovered")):
        facts = summary(fixed, settings)
        assert facts["recovered"] is True
        [(_ids, message)] = digests([facts, summary(make("x"), settings)], [None, None])
        assert message.text.split("\n")[2] == f"- ✅ **etl** {word} · web-1 · {hms()}"


def test_interrupted_counts_as_failed() -> None:
    """An interrupted run is counted among the failed and shown as interrupted."""
    reports = [make("a", "interrupted"), make("b", "success")]
    [(_ids, message)] = digests([summary(r, EN) for r in reports], [None, None])
    assert message.title == "Job reports: 2 (1 failed)"
    assert message.text.split("\n")[2] == f"- ⚠️ **a** interrupted · web-1 · {hms()}"


# -- the detail of the first failure -------------------------------------------------------


def test_first_failure_detail_is_appended() -> None:
    """The detail of the first failure (not of a success, nor of a later failure) follows
    the list after a --- separator."""
    summaries = three(ZH)
    details = ["the success's detail", "extract's detail", "report's detail"]
    summaries = [summaries[1], summaries[0], summaries[2]]  # load, extract, report
    [(_ids, message)] = digests(summaries, details)
    lines, _, detail = message.text.partition("\n\n---\n\n")
    assert detail == "extract's detail"
    assert lines.count("\n- ") == 3  # the three lines, unchanged
    assert "the success's detail" not in message.text
    assert "report's detail" not in message.text


def test_rendered_detail_is_kept_whole_when_it_fits() -> None:
    """A rendered report's text, which fits, is appended whole."""
    reports = [make("extract"), make("load", "success")]
    detail = render(reports[0], ZH).text
    [(_ids, message)] = digests([summary(r, ZH) for r in reports], [detail, None])
    assert message.text.endswith("\n\n---\n\n" + detail)
    assert "ValueError: bad row 42" in message.text.partition("---")[2]


def test_long_detail_is_cut() -> None:
    """A detail too long for the digest is cut at a line end, marked with …, and fits."""
    detail = "\n".join(f"line {i:05d} " + "细节" * 40 for i in range(2_000))
    summaries = three(ZH)
    [(_ids, message)] = digests(summaries, [detail, None, None], keyword=KEYWORD)
    _lines, _, kept = message.text.partition("\n\n---\n\n")
    assert kept.endswith("\n\n…")
    head = kept.removesuffix("\n\n…")
    assert head.startswith("line 00000 ")
    assert detail.startswith(head)
    assert detail[len(head)] == "\n"  # cut at the end of a line
    assert len(head) < len(detail)
    assert fits(message)


def test_detail_with_control_characters_still_fits() -> None:
    """A detail full of control characters (6-byte JSON escapes each) is cut to fit too."""
    noisy = make("extract", exc_message="bad record: " + "\x00" * 280,
                 notes=tuple((f"raw{i}", "\x01" * 290) for i in range(10)))
    detail = render(noisy, ZH).text
    summaries = [summary(noisy, ZH)] + [summary(make(f"job{i}"), ZH) for i in range(19)]
    result = digests(summaries, [detail] * 20, keyword=KEYWORD)
    assert [i for ids, _m in result for i in ids] == list(range(20))
    for _ids, message in result:
        assert len(body(message)) <= budget(KEYWORD)


# -- mentions ----------------------------------------------------------------------------


def test_mentions_owners_of_failed_reports_only() -> None:
    """Owners of failed (and interrupted) reports are mentioned once each, in order; owners of
    successes are not."""
    reports = [
        make("a", owners=("13800000000", "manager01")),
        make("b", "success", owners=("13900000000", "boss")),
        make("c", owners=("13800000000", "ops02")),
        make("d", "interrupted", owners=("+86-13700000000",)),
    ]
    summaries = [summary(r, ZH) for r in reports]
    summaries[1] |= {"mobiles": ["13900000000"], "user_ids": ["boss"], "all": True}
    [(_ids, message)] = digests(summaries, [None] * 4)
    assert message.at == At(
        mobiles=["13800000000", "+86-13700000000"], user_ids=["manager01", "ops02"]
    )
    assert message.payload()["at"] == {
        "atMobiles": ["13800000000", "+86-13700000000"],
        "atUserIds": ["manager01", "ops02"],
        "isAtAll": False,
    }
    assert message.payload()["markdown"]["text"].endswith(
        "\n\n@13800000000 @+86-13700000000 @manager01 @ops02"
    )
    assert "13900000000" not in json.dumps(message.payload())


def test_no_mentions_when_only_successes_have_owners() -> None:
    """A digest whose failures have no owners mentions nobody."""
    summaries = [dict_summary("a"), dict_summary("b", "success", mobiles=["13900000000"])]
    [(_ids, message)] = digests(summaries, [None, None])
    assert message.at is None
    assert "at" not in message.payload()


def test_mentions_are_capped_at_50() -> None:
    """At most 50 people are mentioned in all, mobiles first, then user ids."""
    summaries = [
        dict_summary(f"job{i}", mobiles=[f"1380000{i:04d}", "13800000000"], user_ids=[f"u{i}"])
        for i in range(40)
    ]
    [(_ids, message)] = digests(summaries, [None] * 40)
    assert message.at is not None
    assert list(message.at.mobiles) == [f"1380000{i:04d}" for i in range(40)]
    assert list(message.at.user_ids) == [f"u{i}" for i in range(10)]
    assert len(message.at.mobiles) + len(message.at.user_ids) == 50


def test_mention_all_wins() -> None:
    """One failed report asking for @all makes the digest mention everyone, no one by name."""
    reports = [make("a", owners=("13800000000",)), make("b", owners=("manager01",))]
    summaries = [summary(reports[0], ZH), summary(reports[1], Settings(mention_all=True))]
    assert summaries[1]["all"] is True
    [(_ids, message)] = digests(summaries, [None, None])
    assert message.at == At(all=True)
    assert message.payload()["at"] == {"isAtAll": True}
    assert "@13800000000" not in message.payload()["markdown"]["text"]


# -- many reports ------------------------------------------------------------------------


def test_a_thousand_reports_become_a_few_full_digests() -> None:
    """1,000 reports become several digests that cover each report once, in order, each
    within DingTalk's size limit with the keyword, the first as full as the limit allows."""
    reports = [
        make(f"job-{i:04d}", "failure" if i % 3 else "success", ended=ENDED + i,
             owners=(f"1380000{i % 70:04d}", f"user{i % 30}"))
        for i in range(1_000)
    ]
    summaries = [summary(r, ZH) for r in reports]
    details = [render(r, ZH).text for r in reports]
    result = digests(summaries, details, keyword=KEYWORD)
    indexes = [i for ids, _m in result for i in ids]
    assert indexes == list(range(1_000))
    assert 2 <= len(result) <= 10
    for ids, message in result:
        assert ids == list(range(ids[0], ids[-1] + 1))
        failed = sum(1 for i in ids if i % 3)
        assert message.title == f"程序执行情况: {len(ids)} 条报告（{failed} 条失败）"
        assert fits(message)
        for i in ids:
            assert f"**job-{i:04d}**" in message.text
        assert message.at is not None
        assert len(message.at.mobiles) + len(message.at.user_ids) <= 50
    first = result[0][0]  # full: one more report would not have fitted
    more = digests(summaries[: len(first) + 1], details[: len(first) + 1], keyword=KEYWORD)
    assert [ids for ids, _m in more] == [first, [len(first)]]


def test_very_long_exception_line_still_fits() -> None:
    """Reports with a 5,000-character exception line still fit, and none is dropped."""
    long = make("huge", exc_message="x" * 5_000)
    facts = summary(long, ZH)
    assert len(facts["line_md"]) < 1_000  # summary() caps the line
    summaries = [
        summary(make("a"), ZH),
        facts,
        dict_summary("raw", line_md="异" * 5_000),  # 15,000 bytes, uncapped
        dict_summary("raw2", line_md="异" * 5_000),
        summary(make("b"), ZH),
    ]
    result = digests(summaries, [None] * 5, keyword=KEYWORD)
    assert [i for ids, _m in result for i in ids] == list(range(5))
    assert len(result) == 2
    for _ids, message in result:
        assert fits(message)
    assert ("异" * 5_000) in result[0][1].text
    assert ("异" * 5_000) in result[1][1].text
