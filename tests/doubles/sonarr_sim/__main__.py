"""``python -m tests.doubles.sonarr_sim``: serve a simulator until Ctrl-C."""

from tests.doubles.sonarr_sim import main

if __name__ == "__main__":
    raise SystemExit(main())
