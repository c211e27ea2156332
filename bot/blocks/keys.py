"""How a Blocks API key is named anywhere it must not be shown: its SHA-256 (the database, the audit) and
the start of that (logs, metrics, the doctor's checklist). One function for each, so that an admin can
match a refused key in the log with the doctor's line and the metrics' label."""

from __future__ import annotations

import hashlib

LABEL_LENGTH = 12


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def key_label(api_key_hash: str) -> str:
    return api_key_hash[:LABEL_LENGTH]
