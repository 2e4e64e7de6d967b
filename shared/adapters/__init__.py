"""Adapters: the only modules that import Azure SDKs; they translate SDK errors into shared.errors."""
