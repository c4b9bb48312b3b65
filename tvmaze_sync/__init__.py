"""tvmaze-sync: a local SQLite mirror of TVMaze that feeds the shows you want to Sonarr."""

__version__ = "0.1.0"
