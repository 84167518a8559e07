"""Per-server (guild) settings, persisted in SQLite (one machine) or PostgreSQL (several).

    async with await open_store("data/settings.db") as store:                 # SQLite
        s = await store.update(guild_id, temperature=0.8)
    store = await open_store("postgresql://bard@db.example/bard")              # PostgreSQL

The layout follows Red-DiscordBot's storage drivers: `base.py` (the model, the abstract store,
errors), one module per backend that imports `base` only, and here the factory that picks one.
The PostgreSQL backend is imported only when asked for: its driver is an optional extra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bardbot.database_url import PostgresUrl, parse_target
from bardbot.settings.base import (
    COLUMNS,
    MAX_ID,
    MAX_MOOD_DAYS,
    TABLES,
    GuildSettings,
    MoodCounts,
    MoodRow,
    SettingsError,
    SettingsOutcomeUnknown,
    SettingsStore,
    SettingsUnavailable,
    StoredRow,
    check_id,
    schema_gap,
    validate,
)

__all__ = [
    "COLUMNS", "DEFAULTS", "MAX_ID", "MAX_MOOD_DAYS", "TABLES", "CopyReport", "GuildSettings",
    "MoodCounts", "MoodRow", "PostgresUrl", "SettingsError", "SettingsOutcomeUnknown",
    "SettingsStore", "SettingsUnavailable", "StoredRow", "check_id", "copy_settings",
    "open_store", "parse_target", "schema_gap", "validate",
]

DEFAULTS = GuildSettings()  # frozen: one instance serves as every call's default


async def open_store(
    target: str | os.PathLike[str] | PostgresUrl,
    defaults: GuildSettings = DEFAULTS,
    *,
    read_only: bool = False,
) -> SettingsStore:
    """Open (creating if needed), check and migrate the database; SettingsError if unusable.
    `read_only`: an existing database, read as it is (never migrated, switched or written)."""
    if defaults.allowed_channels:
        raise ValueError(
            "defaults.allowed_channels must be empty: channel ids belong to one server"
        )
    target = parse_target(target)
    if isinstance(target, PostgresUrl):
        try:
            from bardbot.settings.postgres import PostgresSettingsStore
        except ImportError as e:
            raise SettingsError(
                f"{target} needs the PostgreSQL driver ({e}): pip install 'bardbot[postgres]'"
            ) from None
        return await PostgresSettingsStore.connect(target, defaults, read_only=read_only)
    from bardbot.settings.sqlite import SqliteSettingsStore

    return await SqliteSettingsStore.connect(target, defaults, read_only=read_only)


@dataclass(frozen=True)
class CopyReport:
    copied: tuple[int, ...]  # servers written to the target
    skipped: tuple[int, ...]  # servers the target had already, left as they were there


async def copy_settings(
    source: str | os.PathLike[str] | PostgresUrl,
    target: str | os.PathLike[str] | PostgresUrl,
    *,
    overwrite: bool = False,
) -> CopyReport:
    """Copy every server's stored settings from `source` into `target` (e.g. a SQLite file into
    PostgreSQL). A server the target has already is skipped, so a change made there is never
    lost, unless `overwrite` (then its row there is replaced). The source is only read: never
    migrated nor written. Invalid stored values are not copied (they read as the default either
    way). Running it again copies nothing new."""
    source, target = parse_target(source), parse_target(target)
    if isinstance(source, Path) and not source.is_file():
        raise SettingsError(f"there is no settings file at {source}")
    async with await open_store(source, read_only=True) as src:
        rows = await src.export_rows()
    async with await open_store(target) as dst:
        copied = await dst.import_rows(rows, overwrite=overwrite)
    written = set(copied)
    return CopyReport(tuple(copied), tuple(gid for gid in rows if gid not in written))
