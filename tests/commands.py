"""Check that a `tvmaze-sync …` command line written in docs or examples really parses.

Shared by tests/test_deploy.py and tests/test_docs.py: crontabs, unit files, manifests and
docs quote invocations that must keep working when options are renamed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from typing import Any

import typer

from tvmaze_sync.core.config import iter_options

#: Variables the tool reads besides the option variables.
EXTRA_ENV = {"TVMAZE_SYNC_CONFIG"}


def option_env_names() -> set[str]:
    """Every variable the configuration reads: `SECTION_KEY`, its `_FILE` form, and extras."""
    names = {option.env for option in iter_options()}
    return names | {f"{name}_FILE" for name in names} | EXTRA_ENV


#: Options whose callbacks act while parsing (print and exit, or install completion in the
#: user's shell rc file): never parse these, only recognise them.
EAGER = frozenset({"-h", "--help", "--version", "--install-completion", "--show-completion"})


def parse_invocation(argv: Sequence[str]) -> tuple[str, ...]:
    """Parse `tvmaze-sync <argv>` exactly as the CLI would, without running anything.

    Returns the command path (e.g. ("config", "check")); raises the CLI's usage error on an
    unknown command or option or a bad value. Argument lists with an eager option (--help,
    --version, completion) are only checked for naming one, never parsed: parsing runs
    their callbacks.
    """
    from tvmaze_sync.cli.main import app, hoist_global_options

    if EAGER.intersection(argv):
        return ("<eager>",)
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("tvmaze-sync", hoist_global_options(list(argv)))
    path: list[str] = []
    while hasattr(command, "resolve_command"):
        # Group parsing leaves the subcommand and its arguments here (click's own layout).
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            break
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    if not path:
        raise ValueError(f"no command in {list(argv)}")
    return tuple(path)


#: Words that may precede the program in a command position.
_PREFIX_WORDS = frozenset({"sudo", "exec", "env", "nice", "nohup", "time", "HEALTHCHECK", "CMD"})
_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=.*")
_CRON_SCHEDULE = re.compile(r"[\d*/,-]+")


def invocations(text: str) -> Iterator[list[str]]:
    """The argv after `tvmaze-sync` of every invocation in shell-like text.

    Each line is split into shell words and cut at `|`, `&&`, `||`, `;` and redirections;
    a segment is an invocation when its program (after `VAR=value` words and `sudo`) is
    `tvmaze-sync` or a path ending in `/tvmaze-sync`. `<placeholder>` becomes one word.
    """
    for line in text.splitlines():
        line = re.sub(r"<[^<>]+>", "PLACEHOLDER", line)
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        segment: list[str] = []
        for word in [*words, ";"]:
            if word in {"|", "&&", "||", ";"} or word.startswith((">", "2>", "<")):
                argv = _after_program(segment)
                if argv is not None:
                    yield argv
                segment = []
            else:
                segment.append(word)


def _after_program(words: list[str]) -> list[str] | None:
    i = 0
    if len(words) > 5 and all(_CRON_SCHEDULE.fullmatch(w) for w in words[:5]):
        i = 5  # a crontab line
    while i < len(words) and (
        re.fullmatch(r"[A-Za-z_]\w*=.*", words[i]) or words[i] in _PREFIX_WORDS
    ):
        i += 1
    if i < len(words) and (words[i] == "tvmaze-sync" or words[i].endswith("/tvmaze-sync")):
        return words[i + 1 :]
    return None
