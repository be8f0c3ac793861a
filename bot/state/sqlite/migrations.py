"""The database's schema, as numbered steps; the database remembers (`user_version`) which ran.

Add a step at the end; never edit one that has shipped. Schema 1 is the first release's, whose
databases say `user_version` 0 but already hold its tables (every statement of step 1 is
idempotent for that reason).
"""

from __future__ import annotations

import logging

import aiosqlite

log = logging.getLogger(__name__)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: jobs, cooldowns and facts.
    (
        """CREATE TABLE IF NOT EXISTS cooldowns (
            user_id INTEGER PRIMARY KEY,
            until REAL NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id INTEGER NOT NULL,
            guild_id INTEGER,
            channel_id INTEGER NOT NULL,
            params TEXT NOT NULL,
            pose BLOB,
            pose_note TEXT,
            state TEXT NOT NULL,
            interaction_token TEXT,
            token_expires_at REAL,
            placeholder_id INTEGER,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            cost REAL,
            credits_left REAL,
            error TEXT,
            result BLOB,
            outcome TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state)",
        "CREATE INDEX IF NOT EXISTS jobs_by_guild ON jobs (guild_id, finished_at)",
        """CREATE TABLE IF NOT EXISTS facts (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    ),
    # 2: a drawn sheet that could not be delivered is retried on a schedule.
    (
        "ALTER TABLE jobs ADD COLUMN delivery_attempts INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN deliver_after REAL",
    ),
    # 3: Segmind's async mode: what is needed to follow a submitted request after a restart.
    (
        "ALTER TABLE jobs ADD COLUMN request_id TEXT",
        "ALTER TABLE jobs ADD COLUMN status_url TEXT",
        "ALTER TABLE jobs ADD COLUMN response_url TEXT",
        "ALTER TABLE jobs ADD COLUMN submitted_at REAL",
    ),
    # 4: server controls: per-server settings and lists, a change log, the ledger, reservations.
    (
        """CREATE TABLE server_settings (
            guild_id INTEGER PRIMARY KEY,
            cooldown_seconds REAL,
            daily_limit INTEGER NOT NULL DEFAULT 0,
            budget REAL NOT NULL DEFAULT 0,
            alerts_channel_id INTEGER,
            alerts_below REAL,
            open_reroll INTEGER
        )""",
        """CREATE TABLE server_lists (
            guild_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (guild_id, kind, value)
        )""",
        """CREATE TABLE config_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            guild_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            setting TEXT NOT NULL,
            old TEXT,
            new TEXT
        )""",
        """CREATE TABLE ledger (
            job_id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            guild_id INTEGER,
            user_id INTEGER NOT NULL,
            cost REAL NOT NULL,
            outcome TEXT NOT NULL
        )""",
        "CREATE INDEX ledger_by_guild ON ledger (guild_id, at)",
        "CREATE INDEX ledger_by_time ON ledger (at)",
        """INSERT INTO ledger (job_id, at, guild_id, user_id, cost, outcome)
            SELECT id, finished_at, guild_id, user_id, COALESCE(cost, 0), state FROM jobs
            WHERE state IN ('done', 'failed', 'interrupted') AND finished_at IS NOT NULL""",
        "ALTER TABLE jobs ADD COLUMN reserved REAL NOT NULL DEFAULT 0",
        # Cooldowns per member per server (0: direct messages; -1: from before, everywhere).
        """CREATE TABLE member_cooldowns (
            user_id INTEGER NOT NULL,
            guild_id INTEGER NOT NULL,
            until REAL NOT NULL,
            PRIMARY KEY (user_id, guild_id)
        )""",
        "INSERT INTO member_cooldowns (user_id, guild_id, until) SELECT user_id, -1, until"
        " FROM cooldowns",
        "DROP TABLE cooldowns",
        """CREATE TABLE alert_states (
            guild_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            raised INTEGER NOT NULL,
            PRIMARY KEY (guild_id, kind)
        )""",
    ),
    # 5: content safety: a server's policy for flagged images, and where moderators read what
    # was withheld. (A withheld job is a state of its own; `state` is text, nothing to change.)
    (
        "ALTER TABLE server_settings ADD COLUMN safety_mode TEXT",
        "ALTER TABLE server_settings ADD COLUMN safety_log_channel_id INTEGER",
    ),
    # 6: saved characters, a member's own (shelf "member:ID") or a server's shared ones
    # ("server:ID"), names unique per shelf whatever their case (name_key), with their pose.
    (
        """CREATE TABLE characters (
            shelf TEXT NOT NULL,
            name_key TEXT NOT NULL,
            name TEXT NOT NULL,
            owner_id INTEGER NOT NULL,
            params TEXT NOT NULL,
            saved_at REAL NOT NULL,
            has_pose INTEGER NOT NULL DEFAULT 0,
            pose_note TEXT,
            pose BLOB,
            PRIMARY KEY (shelf, name_key)
        )""",
    ),
    # 7: the language a server chose for everything the bot says there (NULL: each member's
    # own). A job's languages are kept in its `params` text, nothing to change there.
    ("ALTER TABLE server_settings ADD COLUMN language TEXT",),
)


class DatabaseTooNew(Exception):
    """The database was migrated by a newer version of the bot."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"schema {found}, this code knows up to {known}")
        self.found = found
        self.known = known


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring the database up to the latest schema, each step in one transaction."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise DatabaseTooNew(version, len(MIGRATIONS))
    for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
        log.info("database schema is now %d", number)
    return len(MIGRATIONS)
