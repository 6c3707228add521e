"""The ``jobwatch`` command line: run a command under watch, test the robot, send, flush, history.

Loaded by every cron line that uses ``jobwatch run``, so it imports only what the command in
hand needs: ``jobwatch run -- true`` loads neither requests nor the delivery machinery.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from .errors import DingTalkError

__all__ = ["main"]

_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
_TAIL_DEFAULT = 4096


class _Version(argparse.Action):
    """--version, reading the package metadata only when asked (importlib.metadata is slow
    to import, and every `jobwatch run` would pay for it)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from importlib.metadata import version

        sys.stdout.write(f"jobwatch {version('jobwatch')}\n")
        parser.exit()


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, given the width so that it does not import shutil to ask for
    it (4 ms with lzma and bz2, paid by every `jobwatch run`: argparse makes a formatter for
    each argument it adds)."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _columns() - 2)


def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size() tells it: $COLUMNS, else stdout's
    terminal, else 80."""
    with contextlib.suppress(KeyError, ValueError):
        if (columns := int(os.environ["COLUMNS"])) > 0:
            return columns
    with contextlib.suppress(AttributeError, ValueError, OSError):
        stdout = sys.__stdout__
        if stdout is not None and (columns := os.get_terminal_size(stdout.fileno()).columns):
            return columns
    return 80


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (exit 2), pointing at --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jobwatch", description="Watch batch jobs and tell a DingTalk group how they went."
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run a command under watch and report how it ended",
        description="Run CMD with its output passed through unchanged; report its exit status "
        "(with the tail of its stderr on failure) and exit with CMD's status.",
    )
    run.add_argument("--name", help="job name (default: the command's base name)")
    run.add_argument("--owner", action="append", default=[], metavar="M",
                     help="mobile or user id to @ on failure (repeatable)")
    run.add_argument("--notify", choices=("failure", "always", "change", "never"))
    run.add_argument("--timeout", type=float, metavar="S",
                     help="send a 'still running' warning after S seconds")
    run.add_argument("--tail-bytes", type=int, default=_TAIL_DEFAULT, metavar="B",
                     help=f"bytes of stderr to put in a failure report (default {_TAIL_DEFAULT})")
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")

    commands.add_parser("test", help="send a test message and say what DingTalk answered")

    send = commands.add_parser("send", help="send a markdown message (TEXT '-' reads stdin)")
    send.add_argument("--title", help="the notification's title (default: the first line)")
    send.add_argument("--at", action="append", default=[], metavar="M",
                      help="mobile or user id to @ (repeatable)")
    send.add_argument("text", metavar="TEXT")

    flush = commands.add_parser("flush", help="deliver what the outbox holds")
    flush.add_argument("--timeout", type=float, default=60.0, metavar="S")

    history = commands.add_parser("history", help="recent runs and undeliverable messages")
    history.add_argument("--name", help="only this job")
    history.add_argument("--limit", type=int, default=20, metavar="K",
                         help="how many runs (default 20)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        run_parser = _subparser(parser, "run")
        command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not command:
            run_parser.error("run needs a command after --")
        if args.tail_bytes < 0:
            run_parser.error("--tail-bytes must be >= 0")
        if args.timeout is not None and not args.timeout > 0:
            run_parser.error("--timeout must be a positive number of seconds")
        return _run(command, args)
    if args.command == "test":
        return _test()
    if args.command == "send":
        return _send(args.text, args.title, args.at)
    if args.command == "flush":
        return _flush(args.timeout)
    if args.command == "history":
        return _history(args.name, args.limit)
    parser.print_help()
    return 0


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    return parser


# -- run --------------------------------------------------------------------------------------


def _run(command: list[str], args: argparse.Namespace) -> int:
    import signal
    import subprocess
    import threading
    import time

    from .monitor import Watch

    # Signals that arrive before CMD exists are kept and forwarded once it does.
    state: dict[str, Any] = {"proc": None, "early": []}

    def forward(sig: int, _frame: object) -> None:
        if state["proc"] is None:
            state["early"].append(sig)
        else:
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                state["proc"].send_signal(sig)

    for name in _FORWARDED:
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, forward)
    watch = Watch(
        _printable(args.name or os.path.basename(command[0]) or command[0]),
        owners=args.owner or None, notify=args.notify, timeout=args.timeout,
    )
    run = watch.begin()
    run.note("command", _command_line(command))
    run.note("cwd", _printable(os.getcwd()))
    # One pipe when stdout and stderr are the same file (`>>log 2>&1`): CMD's order is kept.
    same = _same_file(1, 2)
    try:
        proc = subprocess.Popen(  # noqa: S603 - running the user's command is the point
            command, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if same else subprocess.PIPE,
        )
    except OSError as exc:
        status = 127 if isinstance(exc, FileNotFoundError) else 126
        what = "command not found" if status == 127 else "command not executable"
        reason = f" ({exc.strerror})" if status == 126 and exc.strerror else ""
        sys.stderr.write(f"jobwatch: {what}: {_printable(command[0])}{reason}\n")
        run.end(_failed(status, f"{what}: {_printable(command[0])}{reason}", ""))
        return status
    state["proc"] = proc
    for sig in state["early"]:
        forward(sig, None)
    tails = {1: bytearray(), 2: bytearray()}
    streams = [(proc.stdout, 1)] + ([] if same else [(proc.stderr, 2)])
    pumps = [
        threading.Thread(target=_pump, args=(stream, fd, tails[fd], args.tail_bytes), daemon=True)
        for stream, fd in streams
    ]
    for pump in pumps:
        pump.start()
    code = proc.wait()
    for name in _FORWARDED:  # CMD is gone: a signal now is for jobwatch (its reports are kept)
        number = getattr(signal, name, None)
        if number is not None:
            default = signal.default_int_handler if name == "SIGINT" else signal.SIG_DFL
            signal.signal(number, default)
    deadline = time.monotonic() + 2.0  # what CMD wrote before it ended; a child it left
    for pump in pumps:  # behind may keep the pipes open, and is not waited for
        pump.join(max(0.0, deadline - time.monotonic()))
    status = 128 - code if code < 0 else code
    if status == 0:
        run.end(None)
        return 0
    tail = _decode_tail(bytes(tails[2] or tails[1]))
    if code < 0:
        try:
            killed = signal.Signals(-code).name
        except ValueError:
            killed = f"signal {-code}"
        description = f"killed by {killed} (exit status {status})"
    else:
        description = f"exit status {status}"
    run.end(_failed(status, description, tail))
    return status


def _printable(text: str) -> str:
    """Text as the report can carry it: undecodable bytes of a file name shown escaped."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


_SECRET_OPTION = re.compile(
    r"(?i)((?:--?[\w-]*(?:password|passwd|pwd|token|secret|api[_-]?key)[\w-]*)(?:=|\s+))(\S+)"
)
_URL_PASSWORD = re.compile(r"(\w+://[^/\s:@]+:)[^@\s/]+@")


def _command_line(command: list[str]) -> str:
    """The command as a shell would read it, with passwords and tokens masked."""
    import shlex

    from .scrub import MASK, scrub

    line = shlex.join(_printable(part) for part in command)
    line = _SECRET_OPTION.sub(lambda m: m.group(1) + MASK, line)
    return scrub(_URL_PASSWORD.sub(lambda m: m.group(1) + MASK + "@", line))


def _same_file(a: int, b: int) -> bool:
    try:
        first, second = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _decode_tail(tail: bytes) -> str:
    """The kept bytes as text, not starting in the middle of a UTF-8 character."""
    start = 0
    while start < min(len(tail), 3) and 0x80 <= tail[start] <= 0xBF:
        start += 1
    return tail[start:].decode("utf-8", "replace")


def _failed(status: int, description: str, tail: str) -> BaseException:
    from .report import CommandFailed  # the failure path only

    return CommandFailed(status, description, tail)


def _pump(stream: object, fd: int, tail: bytearray, keep: int) -> None:
    """Copy a pipe to our own descriptor as the bytes arrive, keeping the last ``keep``."""
    source = stream.fileno()  # type: ignore[attr-defined]
    while True:
        try:
            chunk = os.read(source, 65536)
        except OSError:
            break
        if not chunk:
            break
        view = memoryview(chunk)
        while view:
            try:
                written = os.write(fd, view)
            except OSError:  # our reader went away: close the pipe, so CMD meets it too
                stream.close()  # type: ignore[attr-defined]
                return
            view = view[written:]
        if keep:
            tail += chunk
            del tail[:-keep]


# -- test, send, flush, history -------------------------------------------------------------


def _test() -> int:
    from .config import resolve
    from .errors import DingTalkError, SendError, Throttled
    from .messages import Markdown
    from .report import host_name
    from .senders.dingtalk import DingTalkSender

    settings = resolve()
    if not settings.webhook:
        print("jobwatch test: no webhook is configured: set JOBWATCH_WEBHOOK (and JOBWATCH_SECRET)")
        return 1
    host = host_name()
    message = Markdown(
        "jobwatch 测试消息 / test message",
        f"### ✅ jobwatch\n\n来自 {host} 的测试消息：配置正确。\n\nA test message from {host}: "
        "the settings work.",
    )
    with DingTalkSender(settings.webhook, secret=settings.secret, keyword=settings.keyword,
                        attempts=2, deadline=15) as sender:
        try:
            result = sender.send(message)
        except Throttled as exc:
            print(f"DingTalk answered errcode {exc.errcode}: {exc.errmsg}")
            print("The robot is throttled (more than 20 messages a minute): wait 10 minutes.")
            return 1
        except DingTalkError as exc:
            print(f"DingTalk answered errcode {exc.errcode}: {exc.errmsg}")
            print(_explain(exc))
            return 1
        except SendError as exc:
            print(f"Could not reach DingTalk: {exc}")
            return 1
    print(f"DingTalk answered errcode 0: {result.errmsg}. The test message is in the group.")
    return 0


def _explain(exc: DingTalkError) -> str:
    """What to fix for a refused test message, in plain words."""
    from .senders.errcodes import hint

    text = exc.errmsg.lower()
    if exc.errcode == 310000:
        if "sign" in text or "签名" in text or "timestamp" in text or "时间戳" in text:
            return ("The signature was refused: JOBWATCH_SECRET must be the robot's signing "
                    "secret (SEC...), and this host's clock must be right.")
        if "keyword" in text or "关键词" in text:
            return ("The robot requires a keyword: set JOBWATCH_KEYWORD to one of the keywords "
                    "in the robot's security settings.")
        if "ip" in text or "whitelist" in text or "白名单" in text:
            return ("This host's IP address is not in the robot's IP allow-list: add it in the "
                    "robot's security settings.")
        return ("A security setting refused it: check the signing secret (JOBWATCH_SECRET), "
                "the keyword (JOBWATCH_KEYWORD) and the robot's IP allow-list.")
    if exc.errcode in (300001, 300005, 400101, 400106):
        return "The access token is wrong or the robot was removed: check JOBWATCH_WEBHOOK."
    return hint(exc.errcode) or "See DingTalk's error code documentation."


def _send(text: str, title: str | None, at: list[str]) -> int:
    from .config import resolve, split_owners
    from .delivery import flush, submit
    from .messages import At, Markdown

    body = sys.stdin.buffer.read().decode("utf-8", "replace") if text == "-" else text
    if not body.strip():
        print("jobwatch send: the message is empty", file=sys.stderr)
        return 2
    settings = resolve()
    mobiles, user_ids = split_owners(at)
    heading = title or body.strip().splitlines()[0].lstrip("# ")[:60]
    message = Markdown(heading, body, at=At(mobiles, user_ids) if at else None)
    summary = {"name": heading, "status": "success", "lang": settings.lang, "name_md": heading}
    submit(message, settings, label=heading, summary=summary)
    if not settings.webhook or settings.dry_run:
        return 0
    if flush(settings.flush_timeout):
        print("jobwatch send: delivered")
        return 0
    print("jobwatch send: not delivered yet; it stays in the outbox (see `jobwatch flush`)")
    return 1


def _flush(timeout: float) -> int:
    """Deliver what is pending; print what this flush delivered and what is left."""
    from .delivery import flush, get

    before = get().outbox.counts()
    flush(timeout)
    after = get().outbox.counts()
    delivered = max(0, after.get("delivered", 0) - before.get("delivered", 0))
    dead = max(0, after.get("dead", 0) - before.get("dead", 0))
    pending = after.get("pending", 0) + after.get("sending", 0)
    print(f"delivered {delivered}, pending {pending}, dead {dead}")
    return 1 if pending else 0


def _history(name: str | None, limit: int) -> int:
    import time

    from .delivery import get, history

    rows = [("time", "name", "host", "status", "duration", "exit")]
    for record in history(name, limit):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started))
        took = "" if record.duration is None else f"{record.duration:.2f}s"
        code = "" if record.exit_code is None else str(record.exit_code)
        rows.append((when, record.name, record.host, record.status, took, code))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    dead = get().outbox.dead_messages(limit)
    if dead:
        print("\nundeliverable messages:")
        for item in dead:
            print(f"  {item.get('name', '?')}: errcode {item.get('errcode')}: {item.get('error')}")
    return 0
