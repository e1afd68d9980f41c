"""Benchmarks: gateway vs reference `mlflow server` vs direct S3 (`python -m tests.benchmarks`).

Kept out of the default test run on purpose: no module here is named test_*.py.
"""
