pytest_plugins = ["tests.fixtures_tvmaze", "tests.fixtures_sonarr"]
