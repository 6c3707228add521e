"""The five DingTalk robot message types, and mentions.

Each message is a frozen value; ``payload()`` gives the exact JSON object the webhook takes
(without ``msgUuid``, which the sender adds). Change one with ``dataclasses.replace``.

In markdown and actionCard messages DingTalk only notifies a mentioned person whose ``@<mobile>``
or ``@<userId>`` also appears in the text, so ``payload()`` appends the missing ones; text
messages do that on DingTalk's side. Link and feedCard messages cannot mention anyone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, TypeAlias, TypeVar

__all__ = [
    "ActionCard",
    "At",
    "Button",
    "FeedCard",
    "FeedLink",
    "Link",
    "Markdown",
    "Message",
    "Text",
    "from_payload",
]

MAX_MENTIONS = 50


def _text(owner: str, name: str, value: object) -> str:
    """Check that a required field is a non-empty string."""
    if value is None:
        raise ValueError(f"{owner}.{name} is required")
    if not isinstance(value, str):
        raise TypeError(f"{owner}.{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{owner}.{name} is required and must not be empty")
    return value


def _ids(kind: str, values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"At.{kind} must be a list of strings, not one string")
    ids = tuple(values)
    for value in ids:
        _text("At", kind, value)
    return tuple(value.strip() for value in ids)


@dataclass(frozen=True, slots=True, init=False)
class At:
    """Who a message mentions: mobiles, DingTalk user ids, or everyone (``all=True``)."""

    mobiles: tuple[str, ...]
    user_ids: tuple[str, ...]
    all: bool

    def __init__(
        self, mobiles: Iterable[str] = (), user_ids: Iterable[str] = (), all: bool = False
    ) -> None:
        mobiles = _ids("mobiles", mobiles)
        user_ids = _ids("user_ids", user_ids)
        count = len(set(mobiles)) + len(set(user_ids))
        if count > MAX_MENTIONS:
            raise ValueError(
                f"At mentions {count} people; DingTalk allows at most {MAX_MENTIONS}"
            )
        object.__setattr__(self, "mobiles", tuple(dict.fromkeys(mobiles)))
        object.__setattr__(self, "user_ids", tuple(dict.fromkeys(user_ids)))
        object.__setattr__(self, "all", bool(all))

    def names(self) -> tuple[str, ...]:
        """The ``@`` names that must appear in a markdown text (none with ``all``)."""
        return () if self.all else self.mobiles + self.user_ids

    def payload(self) -> dict[str, Any]:
        """The ``at`` object; with ``all`` no individual is listed, as DingTalk asks."""
        at: dict[str, Any] = {}
        if not self.all:
            if self.mobiles:
                at["atMobiles"] = list(self.mobiles)
            if self.user_ids:
                at["atUserIds"] = list(self.user_ids)
        at["isAtAll"] = self.all
        return at


def _with_mentions(text: str, at: At | None) -> str:
    """Append ``@name`` for each mention not already written in ``text``."""
    if at is None:
        return text
    missing = [
        name
        for name in at.names()
        if not re.search(r"(?<![0-9A-Za-z_.@-])@" + re.escape(name) + r"(?![0-9A-Za-z_-])", text)
    ]
    return text + "\n\n" + " ".join("@" + name for name in missing) if missing else text


def _coerce(cls: Callable[..., _P], value: object, *wire_keys: str) -> _P | object:
    """A Button or FeedLink from itself, a tuple of its fields, or DingTalk's JSON dict."""
    if isinstance(value, tuple):
        return cls(*value)
    if isinstance(value, dict):
        return cls(value.get("title"), *(value.get(key) for key in wire_keys))
    return value


def _with_at(body: dict[str, Any], at: At | None) -> dict[str, Any]:
    if at is not None:
        body["at"] = at.payload()
    return body


def _check_at(owner: str, at: object) -> None:
    if at is not None and not isinstance(at, At):
        raise TypeError(f"{owner}.at must be an At or None, not {type(at).__name__}")


@dataclass(frozen=True, slots=True)
class Text:
    """A plain text message."""

    msgtype: ClassVar[str] = "text"
    content: str
    at: At | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _text("Text", "content", self.content)
        _check_at("Text", self.at)

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON object for this message (without msgUuid)."""
        return _with_at({"msgtype": "text", "text": {"content": self.content}}, self.at)

    def with_keyword(self, keyword: str) -> Text:
        """A copy that contains ``keyword`` (appended where missing)."""
        return replace(self, content=_keyworded(keyword, self.content, "\n"))


@dataclass(frozen=True, slots=True)
class Markdown:
    """A markdown message; ``title`` is what the notification and chat list show."""

    msgtype: ClassVar[str] = "markdown"
    title: str
    text: str
    at: At | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _text("Markdown", "title", self.title)
        _text("Markdown", "text", self.text)
        _check_at("Markdown", self.at)

    def payload(self) -> dict[str, Any]:
        body = {"title": self.title, "text": _with_mentions(self.text, self.at)}
        return _with_at({"msgtype": "markdown", "markdown": body}, self.at)

    def with_keyword(self, keyword: str) -> Markdown:
        return _keyworded_card(self, keyword)


@dataclass(frozen=True, slots=True)
class Link:
    """A link card: title, text, the page it opens, and an optional picture."""

    msgtype: ClassVar[str] = "link"
    title: str
    text: str
    message_url: str
    pic_url: str | None = None

    def __post_init__(self) -> None:
        _text("Link", "title", self.title)
        _text("Link", "text", self.text)
        _text("Link", "message_url", self.message_url)
        if self.pic_url is not None:
            _text("Link", "pic_url", self.pic_url)

    def payload(self) -> dict[str, Any]:
        link = {"title": self.title, "text": self.text, "messageUrl": self.message_url}
        if self.pic_url is not None:
            link["picUrl"] = self.pic_url
        return {"msgtype": "link", "link": link}

    def with_keyword(self, keyword: str) -> Link:
        return _keyworded_card(self, keyword)


@dataclass(frozen=True, slots=True)
class Button:
    """One button of an ActionCard."""

    title: str
    action_url: str

    def __post_init__(self) -> None:
        _text("Button", "title", self.title)
        _text("Button", "action_url", self.action_url)


@dataclass(frozen=True, slots=True)
class ActionCard:
    """A card with one button (``single_title`` + ``single_url``) or several (``buttons``)."""

    msgtype: ClassVar[str] = "actionCard"
    title: str
    text: str
    single_title: str | None = field(default=None, kw_only=True)
    single_url: str | None = field(default=None, kw_only=True)
    buttons: tuple[Button, ...] = field(default=(), kw_only=True)
    vertical: bool = field(default=True, kw_only=True)
    hide_avatar: bool = field(default=False, kw_only=True)
    at: At | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _text("ActionCard", "title", self.title)
        _text("ActionCard", "text", self.text)
        _check_at("ActionCard", self.at)
        buttons = tuple(_coerce(Button, b, "actionURL") for b in self.buttons)
        object.__setattr__(self, "buttons", buttons)
        single = (self.single_title, self.single_url)
        if any(value is not None for value in single):
            _text("ActionCard", "single_title", self.single_title)
            _text("ActionCard", "single_url", self.single_url)
            if self.buttons:
                raise ValueError(
                    "ActionCard takes either single_title/single_url or buttons, not both"
                )
        elif not self.buttons:
            raise ValueError("ActionCard needs single_title and single_url, or buttons")
        for button in self.buttons:
            if not isinstance(button, Button):
                raise TypeError(f"ActionCard.buttons must hold Button, not {type(button).__name__}")

    def payload(self) -> dict[str, Any]:
        card: dict[str, Any] = {
            "title": self.title,
            "text": _with_mentions(self.text, self.at),
            "btnOrientation": "0" if self.vertical else "1",
        }
        if self.single_title is not None:
            card["singleTitle"] = self.single_title
            card["singleURL"] = self.single_url
        else:
            card["btns"] = [{"title": b.title, "actionURL": b.action_url} for b in self.buttons]
        if self.hide_avatar:
            card["hideAvatar"] = "1"
        return _with_at({"msgtype": "actionCard", "actionCard": card}, self.at)

    def with_keyword(self, keyword: str) -> ActionCard:
        return _keyworded_card(self, keyword)


@dataclass(frozen=True, slots=True)
class FeedLink:
    """One entry of a FeedCard."""

    title: str
    message_url: str
    pic_url: str

    def __post_init__(self) -> None:
        _text("FeedLink", "title", self.title)
        _text("FeedLink", "message_url", self.message_url)
        _text("FeedLink", "pic_url", self.pic_url)


@dataclass(frozen=True, slots=True)
class FeedCard:
    """A list of linked entries, each with a picture."""

    msgtype: ClassVar[str] = "feedCard"
    links: tuple[FeedLink, ...]

    def __post_init__(self) -> None:
        links = tuple(_coerce(FeedLink, x, "messageURL", "picURL") for x in self.links)
        object.__setattr__(self, "links", links)
        if not self.links:
            raise ValueError("FeedCard.links needs at least one FeedLink")
        for link in self.links:
            if not isinstance(link, FeedLink):
                raise TypeError(f"FeedCard.links must hold FeedLink, not {type(link).__name__}")

    def payload(self) -> dict[str, Any]:
        links = [
            {"title": x.title, "messageURL": x.message_url, "picURL": x.pic_url}
            for x in self.links
        ]
        return {"msgtype": "feedCard", "feedCard": {"links": links}}

    def with_keyword(self, keyword: str) -> FeedCard:
        if any(keyword in link.title for link in self.links):
            return self
        first = replace(self.links[0], title=_keyworded(keyword, self.links[0].title, " "))
        return replace(self, links=(first, *self.links[1:]))


class _Card(Protocol):
    @property
    def title(self) -> str: ...

    @property
    def text(self) -> str: ...


_C = TypeVar("_C", bound=_Card)
_P = TypeVar("_P")


def _keyworded_card(message: _C, keyword: str) -> _C:
    """A copy of a titled message with ``keyword`` in its title and text."""
    title, text = _keyworded(keyword, message.title, " "), _keyworded(keyword, message.text)
    return replace(message, title=title, text=text)  # type: ignore[type-var]


def _keyworded(keyword: str, text: str, sep: str = "\n\n") -> str:
    """``text`` with ``keyword`` appended unless it already holds it."""
    return text if keyword in text else f"{text}{sep}{keyword}"


Message: TypeAlias = Text | Markdown | Link | ActionCard | FeedCard


def from_payload(payload: dict[str, Any]) -> Message:
    """The message whose ``payload()`` is ``payload`` (as stored in the outbox)."""
    kind = payload.get("msgtype")
    body = payload.get(str(kind), {})
    raw_at = payload.get("at")
    at = None
    if isinstance(raw_at, dict):
        at = At(raw_at.get("atMobiles", ()), raw_at.get("atUserIds", ()),
                raw_at.get("isAtAll", False))
    if kind == "text":
        return Text(body["content"], at=at)
    if kind == "markdown":
        return Markdown(body["title"], body["text"], at=at)
    if kind == "link":
        return Link(body["title"], body["text"], body["messageUrl"], body.get("picUrl"))
    if kind == "actionCard":
        return ActionCard(
            body["title"], body["text"], single_title=body.get("singleTitle"),
            single_url=body.get("singleURL"), buttons=tuple(body.get("btns", ())),
            vertical=body.get("btnOrientation", "0") == "0",
            hide_avatar=body.get("hideAvatar") == "1", at=at,
        )
    if kind == "feedCard":
        return FeedCard(tuple(body["links"]))
    raise ValueError(f"unknown msgtype {kind!r}")
