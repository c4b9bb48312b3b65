"""One whole cycle: the orchestrator, its notification and its metrics; and `explain`,
which reads both sides as a cycle does."""
