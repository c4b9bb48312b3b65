"""Where SQL and files live: the SQLite cache (store), state.json, the writer lock, the
no-symlink file rules, read-only show queries.
"""
