"""The fault suite: what a crash loop, a poison frame, a hostile reader, a full disk or a
database outage do to the collector, measured on loopback with real servers.

``make faults`` (``python -m tests.faults``) runs every scenario at full size and prints a
table (scenario, what was done, figures, verdict) that the README carries; ``make test``
runs each one small (tests/faults/test_faults.py) and asserts its verdict.
"""
