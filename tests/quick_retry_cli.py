"""`python -m tests.quick_retry_cli ARGS`: the real CLI, its TVMaze retries waiting milliseconds.

The hostile-upstream tests run whole `sync` processes (the umask, the exit code, the one
stderr line) against answers that fail every attempt; with the real backoff (seconds, up to
a minute, six tries) each would take half a minute. Only the retry policy changes: two
tries, a 10 ms wait. Everything else is `tvmaze_sync.cli.main.main` as installed.
"""

from __future__ import annotations

import functools

from tvmaze_sync.cli.main import main
from tvmaze_sync.tvmaze import client

if __name__ == "__main__":
    client.RetryPolicy = functools.partial(  # type: ignore[misc]
        client.RetryPolicy, attempts=2, base=0.01, cap=0.01
    )
    main()
