"""Helpers shared by the reliability and security suites and bench/pipeline.py: seeds, HTTP backups, queues, views."""
