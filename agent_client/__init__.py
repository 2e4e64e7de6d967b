"""The machine side: `backup-agent` (encrypting, deduplicating backup client) and `backup-admin`."""
