"""Profiles our client with py-spy on the benchmark dataset and summarises where its time goes."""
