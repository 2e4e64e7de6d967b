"""Benchmarks that measure the backup client against restic, Borg and the machine's ceilings."""
