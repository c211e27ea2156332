"""Re-encrypt every stored secret under the first key of `BLOCKS_SLACK_ENCRYPTION_KEY` (key rotation).

Rotation: set `NEW,OLD`, run this, then set `NEW` alone. It may run while the app serves: each batch is
one short transaction, and a value is replaced only if it is still the one that was read (a token
refreshed meanwhile is newer, and already under the new key).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Engine, Table, select, update

from bot.db.models import Base, SlackBot, SlackInstallation, WorkspaceKey
from bot.oauth.store import BOT_SECRETS, INSTALLATION_SECRETS
from bot.secrets_at_rest import Vault

ENCRYPTED_COLUMNS: tuple[tuple[type[Base], tuple[str, ...]], ...] = (
    (SlackInstallation, tuple(INSTALLATION_SECRETS.values())),
    (SlackBot, tuple(BOT_SECRETS.values())),
    (WorkspaceKey, ("key_encrypted",)),
)


def reencrypt_secrets(engine: Engine, vault: Vault, *, batch_size: int = 100) -> int:
    """How many stored values were rewritten (those under the first key already are left alone)."""
    rewritten = 0
    for model, columns in ENCRYPTED_COLUMNS:
        table = cast(Table, model.__table__)
        last_id = 0
        while True:
            with engine.begin() as conn:
                rows = conn.execute(
                    select(table.c.id, *(table.c[name] for name in columns))
                    .where(table.c.id > last_id)
                    .order_by(table.c.id)
                    .limit(batch_size)
                ).all()
                for row in rows:
                    for name, stored in zip(columns, row[1:], strict=True):
                        if stored is None or vault.is_current(stored):
                            continue
                        result = conn.execute(
                            update(table)
                            .where(table.c.id == row.id, table.c[name] == stored)
                            .values({name: vault.rotate(stored)})
                        )
                        rewritten += result.rowcount
            if len(rows) < batch_size:
                break
            last_id = rows[-1].id
    return rewritten
