"""The paper's reproduction: its report page (docs/results.md), the converged sections with the
paper's targets, the paper's analyses and figures, and the sweep-point comparison. Not part of
the installed package: run from a checkout (run_scripts/make_report.py, analyze.py, sweep_points.py),
with the report's extra (`pip install ".[plots]"`)."""
