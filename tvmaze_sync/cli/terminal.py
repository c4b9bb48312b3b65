"""What the CLI prints goes through here: one place decides what a closed pipe, a full disk
and a hostile byte in TVMaze's data do to the output.

- `tvmaze-sync shows | head -1`: the reader has what it wanted. rich's Console would exit 1
  on BrokenPipeError by itself (`Console.on_broken_pipe`); Terminal raises it instead, so
  cli.exit_on_error maps every format to exit 0 the same way.
- `tvmaze-sync shows > /dev/full`: a foreseeable failure, one line and exit 2 (OutputError),
  never "unexpected error".
- TVMaze records are user-editable: a title may carry escape sequences (colours, an OSC
  "set window title"). `printable` writes every C0/C1 control character as its escape.

Cheap to import: the CLI's `--help` loads it (rich only, none of the core).
"""

from __future__ import annotations

import sys

from rich.console import Console

from tvmaze_sync.core.errors import OutputError
from tvmaze_sync.core.logs import printable

__all__ = ["Terminal", "printable_lines", "write_stdout"]


def printable_lines(text: str) -> str:
    """Like `printable`, keeping the line breaks (a multi-line block such as YAML)."""
    return "\n".join(printable(line) for line in text.split("\n"))


class Terminal(Console):
    """A rich Console whose output failures are the CLI's to map, not rich's."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more to this reader
        if self.stderr:
            return  # a closed stderr loses log lines, not the command's exit code
        raise BrokenPipeError

    def _check_buffer(self) -> None:
        try:
            super()._check_buffer()
        except BrokenPipeError:
            raise
        except OSError as error:
            self.quiet = True
            if not self.stderr:
                raise OutputError(error) from None


def write_stdout(text: str) -> None:
    """Write and flush `text` to stdout (JSON, CSV): a failure surfaces here, not at exit."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        raise OutputError(error) from None
