"""Benchmark suite: runs (runner), the results file (results), Table 2 (aggregate),
paired tests (significance), the paper's analyses (analyses) and docs/results.md (report)."""
