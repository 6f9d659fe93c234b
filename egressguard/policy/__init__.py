"""Policy: allowlists, lookalike scoring, known-bad lists and thresholds, turned into findings."""
