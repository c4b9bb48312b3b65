"""Which shows are wanted: the rules, the filter phase, `explain`, the filter vocabulary."""
