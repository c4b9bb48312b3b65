"""The TVMaze side: the HTTP client, the JSON mapping, the mirror and its planning."""
