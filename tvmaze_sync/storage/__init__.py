"""Where SQL and files live; no layer above writes SQL or imports sqlite3.

store (`Store`, opened one way: `Store.opened`; the migrations), with every query a named
method of its tables: shows and statuses (the `shows` table), ledger (the Sonarr ownership
ledger), counters; columns (the `shows` columns, derived from `core.models.Show`); query
(read-only show listings); sqlitefile (SQLite's error types, the HTTP cache's version);
state (state.json), lock (the writer lock), nofollow (the no-symlink file rules).
"""
