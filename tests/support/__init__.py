"""Helpers shared by the reliability and security suites and bench/load.py: seeds, HTTP backups, queues, views."""
