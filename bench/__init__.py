"""Benchmarks kept in the project: ``make bench`` (``python -m bench``).

They run against the project-local PostGIS in a database of their own (``rebuild_bench``,
created fresh and dropped after), start the real servers as subprocesses on loopback, and write
``docs/benchmarks.md`` and ``docs/benchmarks.json``. Not tests: nothing here passes or fails on
a figure; the figures are recorded with the machine they were measured on.
"""
