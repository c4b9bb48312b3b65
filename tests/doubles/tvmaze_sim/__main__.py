"""``python -m tests.doubles.tvmaze_sim``: serve a simulator until Ctrl-C."""

import sys

from tests.doubles.tvmaze_sim import main

if __name__ == "__main__":
    sys.exit(main())
