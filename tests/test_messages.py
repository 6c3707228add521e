"""Tests of jobwatch.messages: the exact webhook payloads, mentions, validation and keywords."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from jobwatch.messages import (
    ActionCard,
    At,
    Button,
    FeedCard,
    FeedLink,
    Link,
    Markdown,
    Text,
)

MOBILE = "13800001234"
USER = "manager4711"
BUTTONS = (
    Button("Logs", "https://example.com/logs"),
    Button("Rerun", "https://example.com/rerun"),
)
FEED = (
    FeedLink("First", "https://example.com/1", "https://example.com/1.png"),
    FeedLink("Second", "https://example.com/2", "https://example.com/2.png"),
)


# --- payloads of the five types -------------------------------------------------------------


def test_text_payload() -> None:
    """Text gives msgtype text and its content, with no at object when nobody is mentioned."""
    assert Text("nightly job ok").payload() == {
        "msgtype": "text",
        "text": {"content": "nightly job ok"},
    }


def test_markdown_payload() -> None:
    """Markdown gives msgtype markdown with title and text."""
    assert Markdown("Job ok", "# Job ok\n\ndone").payload() == {
        "msgtype": "markdown",
        "markdown": {"title": "Job ok", "text": "# Job ok\n\ndone"},
    }


def test_link_payload_without_picture() -> None:
    """Link without pic_url gives title, text and messageUrl (lower-case 'rl') and no picUrl."""
    assert Link("Report", "see the report", "https://example.com/r").payload() == {
        "msgtype": "link",
        "link": {
            "title": "Report",
            "text": "see the report",
            "messageUrl": "https://example.com/r",
        },
    }


def test_link_payload_with_picture() -> None:
    """Link with pic_url adds picUrl (lower-case 'rl')."""
    link = Link("Report", "see", "https://example.com/r", pic_url="https://example.com/p.png")
    assert link.payload() == {
        "msgtype": "link",
        "link": {
            "title": "Report",
            "text": "see",
            "messageUrl": "https://example.com/r",
            "picUrl": "https://example.com/p.png",
        },
    }


def test_action_card_single_button_payload() -> None:
    """ActionCard with one button gives singleTitle/singleURL, vertical orientation "0", no btns."""
    card = ActionCard("Failed", "job failed", single_title="Logs", single_url="https://e.com/l")
    assert card.payload() == {
        "msgtype": "actionCard",
        "actionCard": {
            "title": "Failed",
            "text": "job failed",
            "btnOrientation": "0",
            "singleTitle": "Logs",
            "singleURL": "https://e.com/l",
        },
    }


@pytest.mark.parametrize(("vertical", "orientation"), [(True, "0"), (False, "1")])
def test_action_card_buttons_payload(vertical: bool, orientation: str) -> None:
    """ActionCard with buttons gives btns with title/actionURL; vertical is "0", horizontal "1"."""
    card = ActionCard("Failed", "job failed", buttons=BUTTONS, vertical=vertical)
    assert card.payload() == {
        "msgtype": "actionCard",
        "actionCard": {
            "title": "Failed",
            "text": "job failed",
            "btnOrientation": orientation,
            "btns": [
                {"title": "Logs", "actionURL": "https://example.com/logs"},
                {"title": "Rerun", "actionURL": "https://example.com/rerun"},
            ],
        },
    }


def test_action_card_hide_avatar_payload() -> None:
    """ActionCard with hide_avatar=True adds hideAvatar "1"."""
    card = ActionCard("Failed", "job failed", buttons=BUTTONS[:1], vertical=False, hide_avatar=True)
    assert card.payload() == {
        "msgtype": "actionCard",
        "actionCard": {
            "title": "Failed",
            "text": "job failed",
            "btnOrientation": "1",
            "btns": [{"title": "Logs", "actionURL": "https://example.com/logs"}],
            "hideAvatar": "1",
        },
    }


def test_feed_card_payload() -> None:
    """FeedCard gives links with messageURL and picURL (upper-case 'URL')."""
    assert FeedCard(FEED).payload() == {
        "msgtype": "feedCard",
        "feedCard": {
            "links": [
                {
                    "title": "First",
                    "messageURL": "https://example.com/1",
                    "picURL": "https://example.com/1.png",
                },
                {
                    "title": "Second",
                    "messageURL": "https://example.com/2",
                    "picURL": "https://example.com/2.png",
                },
            ]
        },
    }


@pytest.mark.parametrize(
    ("message", "msgtype"),
    [
        (Text("a"), "text"),
        (Markdown("a", "b"), "markdown"),
        (Link("a", "b", "https://e.com"), "link"),
        (ActionCard("a", "b", buttons=BUTTONS), "actionCard"),
        (FeedCard(FEED), "feedCard"),
    ],
)
def test_msgtype_class_attribute(message: Any, msgtype: str) -> None:
    """Each type's msgtype class attribute equals the msgtype in its payload."""
    assert message.msgtype == msgtype
    assert message.payload()["msgtype"] == msgtype


def test_payload_returns_a_fresh_dict() -> None:
    """Mutating one payload does not change the next one."""
    message = Markdown("t", "x", at=At(mobiles=[MOBILE]))
    first = message.payload()
    first["markdown"]["text"] = "changed"
    first["at"]["atMobiles"].append("1")
    assert message.payload() == {
        "msgtype": "markdown",
        "markdown": {"title": "t", "text": f"x\n\n@{MOBILE}"},
        "at": {"atMobiles": [MOBILE], "isAtAll": False},
    }


# --- at payloads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (At(), {"isAtAll": False}),
        (
            At(mobiles=[MOBILE, "13900005678"]),
            {"atMobiles": [MOBILE, "13900005678"], "isAtAll": False},
        ),
        (At(user_ids=[USER]), {"atUserIds": [USER], "isAtAll": False}),
        (
            At(mobiles=[MOBILE], user_ids=[USER]),
            {"atMobiles": [MOBILE], "atUserIds": [USER], "isAtAll": False},
        ),
        (At(all=True), {"isAtAll": True}),
        (At(mobiles=[MOBILE], user_ids=[USER], all=True), {"isAtAll": True}),
    ],
)
def test_at_payload(at: At, expected: dict[str, Any]) -> None:
    """At gives atMobiles/atUserIds/isAtAll; with all=True nobody is listed individually."""
    assert at.payload() == expected


def test_text_at_payload_keeps_content() -> None:
    """Text carries the at object and its content is not changed by mentions."""
    message = Text("disk full", at=At(mobiles=[MOBILE], user_ids=[USER]))
    assert message.payload() == {
        "msgtype": "text",
        "text": {"content": "disk full"},
        "at": {"atMobiles": [MOBILE], "atUserIds": [USER], "isAtAll": False},
    }


def test_at_duplicates_collapse() -> None:
    """Repeated mobiles and user ids are kept once, in first-seen order."""
    at = At(mobiles=[MOBILE, "139", MOBILE], user_ids=[USER, USER])
    assert at.mobiles == (MOBILE, "139")
    assert at.user_ids == (USER,)
    assert at.payload() == {"atMobiles": [MOBILE, "139"], "atUserIds": [USER], "isAtAll": False}


def test_at_accepts_any_iterable() -> None:
    """At takes generators and tuples and stores tuples."""
    at = At(mobiles=(m for m in [MOBILE]), user_ids=(USER,))
    assert at.mobiles == (MOBILE,)
    assert at.user_ids == (USER,)
    assert at.all is False


# --- mentions in markdown and actionCard ----------------------------------------------------


def test_markdown_appends_missing_mentions() -> None:
    """Markdown appends "@<mobile> @<userId>" after a blank line when they are not in the text."""
    message = Markdown("t", "job failed", at=At(mobiles=[MOBILE], user_ids=[USER]))
    assert message.payload() == {
        "msgtype": "markdown",
        "markdown": {"title": "t", "text": f"job failed\n\n@{MOBILE} @{USER}"},
        "at": {"atMobiles": [MOBILE], "atUserIds": [USER], "isAtAll": False},
    }


def test_markdown_does_not_duplicate_present_mentions() -> None:
    """A mention already written in the markdown text is not appended again."""
    text = f"job failed, @{MOBILE} please look"
    message = Markdown("t", text, at=At(mobiles=[MOBILE], user_ids=[USER]))
    assert message.payload()["markdown"]["text"] == f"{text}\n\n@{USER}"


def test_markdown_all_mentions_present_leaves_text() -> None:
    """When every mention is in the text, the markdown text is unchanged."""
    text = f"@{USER} and @{MOBILE}"
    message = Markdown("t", text, at=At(mobiles=[MOBILE], user_ids=[USER]))
    assert message.payload()["markdown"]["text"] == text


@pytest.mark.parametrize(
    ("mobile", "text"),
    [
        ("13800001234", "call @1380000 now"),
        ("1380000", "call @13800001234 now"),
        ("13800001234", "call @13800001234_x now"),
        ("1380000", "call @1380000abc"),
    ],
)
def test_markdown_mention_prefix_is_not_present(mobile: str, text: str) -> None:
    """An @name that is only a prefix or an extension of the mention does not count as present."""
    message = Markdown("t", text, at=At(mobiles=[mobile]))
    assert message.payload()["markdown"]["text"] == f"{text}\n\n@{mobile}"


@pytest.mark.parametrize(
    "text",
    [
        "@13800001234",
        "call @13800001234.",
        "(@13800001234)",
        "@13800001234\nnext",
        "@13800001234，",
    ],
)
def test_markdown_mention_followed_by_punctuation_is_present(text: str) -> None:
    """An @mobile followed by the end, punctuation or a newline counts as present."""
    message = Markdown("t", text, at=At(mobiles=[MOBILE]))
    assert message.payload()["markdown"]["text"] == text


def test_action_card_appends_missing_mentions() -> None:
    """ActionCard appends missing @names to its text and carries the at object."""
    card = ActionCard(
        "t", f"@{USER} see", buttons=BUTTONS[:1], at=At(mobiles=[MOBILE], user_ids=[USER])
    )
    assert card.payload() == {
        "msgtype": "actionCard",
        "actionCard": {
            "title": "t",
            "text": f"@{USER} see\n\n@{MOBILE}",
            "btnOrientation": "0",
            "btns": [{"title": "Logs", "actionURL": "https://example.com/logs"}],
        },
        "at": {"atMobiles": [MOBILE], "atUserIds": [USER], "isAtAll": False},
    }


@pytest.mark.parametrize(
    "message",
    [
        Markdown("t", "body", at=At(mobiles=[MOBILE], user_ids=[USER], all=True)),
        ActionCard("t", "body", buttons=BUTTONS, at=At(mobiles=[MOBILE], all=True)),
    ],
)
def test_at_all_appends_no_individual(message: Markdown | ActionCard) -> None:
    """With all=True no individual @name is appended to the text."""
    payload = message.payload()
    assert payload[message.msgtype]["text"] == "body"
    assert payload["at"] == {"isAtAll": True}


def test_mentions_do_not_change_the_message() -> None:
    """payload() appends mentions to the JSON only, not to the stored text."""
    message = Markdown("t", "body", at=At(mobiles=[MOBILE]))
    message.payload()
    assert message.text == "body"


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field_name"),
    [
        (lambda: Text(""), "Text.content"),
        (lambda: Text("  \n "), "Text.content"),
        (lambda: Markdown("", "x"), "Markdown.title"),
        (lambda: Markdown("t", ""), "Markdown.text"),
        (lambda: Link("", "x", "https://e.com"), "Link.title"),
        (lambda: Link("t", "", "https://e.com"), "Link.text"),
        (lambda: Link("t", "x", ""), "Link.message_url"),
        (lambda: Link("t", "x", "https://e.com", pic_url=""), "Link.pic_url"),
        (lambda: Button("", "https://e.com"), "Button.title"),
        (lambda: Button("b", " "), "Button.action_url"),
        (lambda: ActionCard("", "x", buttons=BUTTONS), "ActionCard.title"),
        (lambda: ActionCard("t", "", buttons=BUTTONS), "ActionCard.text"),
        (
            lambda: ActionCard("t", "x", single_title="", single_url="https://e.com"),
            "ActionCard.single_title",
        ),
        (lambda: ActionCard("t", "x", single_title="b", single_url=""), "ActionCard.single_url"),
        (lambda: ActionCard("t", "x", single_title="b"), "ActionCard.single_url"),
        (lambda: ActionCard("t", "x", single_url="https://e.com"), "ActionCard.single_title"),
        (lambda: FeedLink("", "https://e.com", "https://e.com/p"), "FeedLink.title"),
        (lambda: FeedLink("t", "", "https://e.com/p"), "FeedLink.message_url"),
        (lambda: FeedLink("t", "https://e.com", ""), "FeedLink.pic_url"),
        (lambda: At(mobiles=[""]), "At.mobiles"),
        (lambda: At(user_ids=[" "]), "At.user_ids"),
        (lambda: Text(None), "Text.content"),
        (lambda: Link("t", "x", None), "Link.message_url"),
        (lambda: Button("b", None), "Button.action_url"),
        (lambda: FeedLink("t", "https://e.com", None), "FeedLink.pic_url"),
        (lambda: At(user_ids=[None]), "At.user_ids"),
    ],
)
def test_empty_or_missing_field_raises_value_error(build: Any, field_name: str) -> None:
    """An empty, blank, None or missing required string raises ValueError naming the field."""
    with pytest.raises(ValueError, match=field_name.replace(".", r"\.")):
        build()


@pytest.mark.parametrize(
    ("build", "field_name"),
    [
        (lambda: Text(b"bytes"), "Text.content"),
        (lambda: Markdown(1, "x"), "Markdown.title"),
        (lambda: Markdown("t", ["x"]), "Markdown.text"),
        (lambda: Link("t", "x", "https://e.com", pic_url=1), "Link.pic_url"),
        (lambda: ActionCard("t", 3, buttons=BUTTONS), "ActionCard.text"),
        (lambda: At(mobiles=[13800001234]), "At.mobiles"),
    ],
)
def test_non_str_field_raises_type_error(build: Any, field_name: str) -> None:
    """A non-str value for a string field raises TypeError naming the field."""
    with pytest.raises(TypeError, match=field_name.replace(".", r"\.")):
        build()


@pytest.mark.parametrize(
    ("build", "field_name"),
    [
        (lambda: Text("x", at="13800001234"), "Text.at"),
        (lambda: Markdown("t", "x", at=["13800001234"]), "Markdown.at"),
        (lambda: ActionCard("t", "x", buttons=BUTTONS, at={"isAtAll": True}), "ActionCard.at"),
        (lambda: ActionCard("t", "x", buttons=["https://e.com"]), "ActionCard.buttons"),
        (lambda: FeedCard([42]), "FeedCard.links"),
    ],
)
def test_wrong_type_of_part_raises_type_error(build: Any, field_name: str) -> None:
    """An at not an At, a button not a Button or a feed link not a FeedLink raises TypeError."""
    with pytest.raises(TypeError, match=field_name.replace(".", r"\.")):
        build()


@pytest.mark.parametrize("kind", ["mobiles", "user_ids"])
def test_at_bare_string_raises_type_error(kind: str) -> None:
    """At(mobiles="138...") is refused rather than read as eleven one-digit mentions."""
    with pytest.raises(TypeError, match=rf"At\.{kind} must be a list of strings"):
        At(**{kind: "13800001234"})


def test_at_strips_whitespace() -> None:
    """Mentions are stored without surrounding whitespace."""
    assert At(mobiles=[" 13800001234 "]).mobiles == ("13800001234",)


def test_at_fifty_mentions_allowed() -> None:
    """Exactly 50 people (mobiles plus user ids) may be mentioned."""
    at = At(mobiles=[f"1380000{i:04d}" for i in range(30)], user_ids=[f"u{i}" for i in range(20)])
    assert len(at.mobiles) + len(at.user_ids) == 50


def test_at_fifty_one_mentions_refused() -> None:
    """51 people raise ValueError naming the count and the limit of 50."""
    with pytest.raises(ValueError, match=r"At mentions 51 people; DingTalk allows at most 50"):
        At(mobiles=[f"1380000{i:04d}" for i in range(30)], user_ids=[f"u{i}" for i in range(21)])


def test_at_duplicates_do_not_count_towards_limit() -> None:
    """Fifty distinct mobiles listed twice each are still fifty mentions."""
    mobiles = [f"1380000{i:04d}" for i in range(50)]
    assert At(mobiles=mobiles + mobiles).mobiles == tuple(mobiles)


def test_action_card_both_single_and_buttons_refused() -> None:
    """ActionCard with single_title/single_url and buttons raises ValueError."""
    with pytest.raises(ValueError, match="either single_title/single_url or buttons, not both"):
        ActionCard("t", "x", single_title="b", single_url="https://e.com", buttons=BUTTONS)


def test_action_card_neither_single_nor_buttons_refused() -> None:
    """ActionCard with no button at all raises ValueError."""
    with pytest.raises(ValueError, match="needs single_title and single_url, or buttons"):
        ActionCard("t", "x")


def test_feed_card_without_links_refused() -> None:
    """FeedCard with no links raises ValueError."""
    with pytest.raises(ValueError, match=r"FeedCard\.links needs at least one FeedLink"):
        FeedCard(())


def test_containers_become_tuples() -> None:
    """Lists of buttons and feed links are stored as tuples."""
    assert ActionCard("t", "x", buttons=list(BUTTONS)).buttons == BUTTONS
    assert FeedCard(list(FEED)).links == FEED


# --- frozen, hashable, replace --------------------------------------------------------------

ALL_MESSAGES = [
    Text("a", at=At(mobiles=[MOBILE])),
    Markdown("t", "b", at=At(user_ids=[USER])),
    Link("t", "b", "https://e.com", pic_url="https://e.com/p"),
    ActionCard("t", "b", buttons=BUTTONS, at=At(all=True)),
    FeedCard(FEED),
]


@pytest.mark.parametrize(
    ("value", "attribute"),
    [
        (ALL_MESSAGES[0], "content"),
        (ALL_MESSAGES[1], "title"),
        (ALL_MESSAGES[2], "message_url"),
        (ALL_MESSAGES[3], "buttons"),
        (ALL_MESSAGES[4], "links"),
        (At(), "all"),
        (BUTTONS[0], "title"),
        (FEED[0], "pic_url"),
    ],
)
def test_values_are_frozen(value: Any, attribute: str) -> None:
    """Assigning to a field raises FrozenInstanceError."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, attribute, getattr(value, attribute))


@pytest.mark.parametrize("message", ALL_MESSAGES)
def test_messages_are_hashable_and_equal_by_value(message: Any) -> None:
    """Equal messages hash equal and collapse in a set."""
    twin = dataclasses.replace(message)
    assert twin == message
    assert hash(twin) == hash(message)
    assert len({message, twin}) == 1


@pytest.mark.parametrize(
    ("message", "changes", "expected"),
    [
        (ALL_MESSAGES[0], {"content": "z"}, Text("z", at=At(mobiles=[MOBILE]))),
        (ALL_MESSAGES[1], {"at": None}, Markdown("t", "b")),
        (ALL_MESSAGES[2], {"pic_url": None}, Link("t", "b", "https://e.com")),
        (
            ALL_MESSAGES[3],
            {"vertical": False},
            ActionCard("t", "b", buttons=BUTTONS, vertical=False, at=At(all=True)),
        ),
        (ALL_MESSAGES[4], {"links": FEED[:1]}, FeedCard(FEED[:1])),
        (At(mobiles=[MOBILE]), {"all": True}, At(mobiles=[MOBILE], all=True)),
    ],
)
def test_replace(message: Any, changes: dict[str, Any], expected: Any) -> None:
    """dataclasses.replace gives a new value with the change and leaves the original alone."""
    before = dataclasses.replace(message)
    assert dataclasses.replace(message, **changes) == expected
    assert message == before


def test_replace_validates() -> None:
    """dataclasses.replace runs the same validation as the constructor."""
    with pytest.raises(ValueError, match=r"Markdown\.title"):
        dataclasses.replace(Markdown("t", "b"), title="")


# --- with_keyword ---------------------------------------------------------------------------

KW = "[jobwatch]"


def test_text_with_keyword() -> None:
    """Text.with_keyword appends the keyword on a new line to the content."""
    assert Text("ok", at=At(all=True)).with_keyword(KW) == Text(f"ok\n{KW}", at=At(all=True))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (Markdown("Job ok", "done"), Markdown(f"Job ok {KW}", f"done\n\n{KW}")),
        (Markdown(f"{KW} Job ok", "done"), Markdown(f"{KW} Job ok", f"done\n\n{KW}")),
        (Markdown("Job ok", f"done {KW}"), Markdown(f"Job ok {KW}", f"done {KW}")),
        (Link("R", "see", "https://e.com"), Link(f"R {KW}", f"see\n\n{KW}", "https://e.com")),
        (
            ActionCard("F", "x", buttons=BUTTONS, at=At(mobiles=[MOBILE])),
            ActionCard(f"F {KW}", f"x\n\n{KW}", buttons=BUTTONS, at=At(mobiles=[MOBILE])),
        ),
    ],
)
def test_card_with_keyword(message: Any, expected: Any) -> None:
    """with_keyword adds the keyword to title and text of titled messages only where missing."""
    assert message.with_keyword(KW) == expected


def test_feed_card_with_keyword_first_title() -> None:
    """FeedCard.with_keyword adds the keyword to the first link's title when no title has it."""
    assert FeedCard(FEED).with_keyword(KW) == FeedCard(
        (dataclasses.replace(FEED[0], title=f"First {KW}"), FEED[1])
    )


def test_feed_card_with_keyword_in_later_title() -> None:
    """FeedCard.with_keyword changes nothing when any link's title already has the keyword."""
    feed = FeedCard((FEED[0], dataclasses.replace(FEED[1], title=f"Second {KW}")))
    assert feed.with_keyword(KW) == feed


@pytest.mark.parametrize(
    "message",
    [
        Text(f"ok {KW}"),
        Markdown(f"t {KW}", f"b {KW}"),
        Link(f"t {KW}", f"b {KW}", "https://e.com"),
        ActionCard(f"t {KW}", f"b {KW}", buttons=BUTTONS),
        FeedCard((dataclasses.replace(FEED[0], title=f"First {KW}"),)),
    ],
)
def test_with_keyword_already_present(message: Any) -> None:
    """with_keyword returns equal values when the keyword is already everywhere it belongs."""
    assert message.with_keyword(KW) == message


def test_buttons_and_feed_links_from_tuples_and_wire_dicts() -> None:
    """Buttons and feed links may be given as field tuples or as DingTalk's JSON objects."""
    card = ActionCard(
        "t",
        "x",
        buttons=[("Logs", "https://e.com/l"), {"title": "Rerun", "actionURL": "https://e.com/r"}],
    )
    assert card.buttons == (Button("Logs", "https://e.com/l"), Button("Rerun", "https://e.com/r"))
    feed = FeedCard(
        [
            ("a", "https://e.com/a", "https://e.com/a.png"),
            {"title": "b", "messageURL": "https://e.com/b", "picURL": "https://e.com/b.png"},
        ]
    )
    assert feed.payload()["feedCard"]["links"][1] == {
        "title": "b",
        "messageURL": "https://e.com/b",
        "picURL": "https://e.com/b.png",
    }


def test_incomplete_wire_dict_names_the_missing_field() -> None:
    """A feed link dict without messageURL raises ValueError naming it."""
    with pytest.raises(ValueError, match=r"FeedLink\.message_url is required"):
        FeedCard([{"title": "t"}])


def test_link_picture_may_be_positional() -> None:
    """Link(title, text, message_url, pic_url) takes the picture positionally too."""
    assert Link("t", "x", "https://e.com", "https://e.com/p.png").payload()["link"]["picUrl"] == (
        "https://e.com/p.png"
    )
