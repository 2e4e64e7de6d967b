"""The storage SDKs' retry settings for the service's blob and queue clients."""

from __future__ import annotations

# The SDKs' ExponentialRetry sleeps initial_backoff + increment_base ** n (n = 1, 2, 3), plus or
# minus the jitter: about 2, 4 and 8 s here, 14 s in all. The defaults (15 + 3 ** n, +-3 s) made
# one call to a dead region take about 84 s, and the Functions host retries the whole message
# five times more anyway.
SHORT_RETRY = {"initial_backoff": 0, "increment_base": 2, "retry_total": 3, "random_jitter_range": 0.5}
