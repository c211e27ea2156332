"""The Blocks REST API: an httpx client, its errors, link rebasing and the shared request budget."""
