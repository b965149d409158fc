"""``make bench``: duban's workloads beside raw standard-library baselines, as ratios.

Run ``python -m bench.run --help`` from the repository root; docs/benchmarks.md has the results.
"""
