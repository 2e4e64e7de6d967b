"""Generates the benchmark's seeded datasets: the mixed tree, its mutation rounds and a many-small-files tree.

Everything is derived from a seed string, so a dataset is the same bytes on every machine and
another seed gives data the code has never been tuned on. Standard library only.
"""
