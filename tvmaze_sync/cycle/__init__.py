"""One whole cycle: the orchestrator, its notification and its metrics."""
