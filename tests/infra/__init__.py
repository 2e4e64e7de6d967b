"""Tests of the deployment templates under infra/."""
