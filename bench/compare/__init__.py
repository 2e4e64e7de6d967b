"""Compares our client with restic and Borg on the shared dataset (`python -m bench.compare`).

One run generates (or reuses) the dataset, measures every tool through the same phases (initial
backup, incremental after a mutation, no-change backup, full restore, verify), measures the
machine's ceilings (reading the dataset, raw upload and download to Azurite), and writes
`bench/results/latest.md`. Benchmarks print and record; nothing here asserts a timing.
"""
