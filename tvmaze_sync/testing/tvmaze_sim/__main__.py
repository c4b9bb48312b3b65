"""``python -m tvmaze_sync.testing.tvmaze_sim``: serve a simulator until Ctrl-C."""

import sys

from tvmaze_sync.testing.tvmaze_sim import main

if __name__ == "__main__":
    sys.exit(main())
