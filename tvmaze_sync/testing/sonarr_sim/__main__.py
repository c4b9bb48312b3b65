"""``python -m tvmaze_sync.testing.sonarr_sim``: serve a simulator until Ctrl-C."""

from tvmaze_sync.testing.sonarr_sim import main

if __name__ == "__main__":
    raise SystemExit(main())
