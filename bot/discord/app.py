"""The bot itself: receives its collaborators, loads the commands, starts the job engine."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.discord.buttons import (
    EDIT_FORM,
    ButtonRules,
    SheetActions,
    SheetButton,
    reroll_button,
    sheet_buttons,
)
from bot.discord.characters import SAVE_FORM, CharacterDesk
from bot.discord.delivery import Courier
from bot.discord.forms import FormRoutes
from bot.discord.history import SheetsPages
from bot.discord.intake import ADMISSION_WAIT, Intake, IntakeRules
from bot.discord.languages import CommandTranslator
from bot.discord.members import DiscordMembers
from bot.discord.pages import PageButton, Pages
from bot.discord.placeholders import Placeholders
from bot.discord.poses import POSE_FORM, PoseForms
from bot.discord.tree import SheetTree
from bot.ops.background import Background
from bot.ops.metrics import Metrics, watch_loop
from bot.ops.settings import Settings
from bot.segmind import AuthError, SegmindClient, SegmindError
from bot.sheets import locales, lookalikes
from bot.sheets.characters import server_shelf
from bot.sheets.deliveries import DeliveryRules
from bot.sheets.engine import EngineRules, JobEngine
from bot.sheets.ledger import Ledger
from bot.sheets.rules import Limits
from bot.sheets.safety import ClassifierWhenNeeded, Safety, SafetyMode, SafetyRules
from bot.sheets.servers import OperatorRules, Servers
from bot.sheets.words import parse_words
from bot.state.backend import Backend

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.character",
    "cogs.credits",
    "cogs.config",
    "cogs.pose",
    "cogs.sheets",
    "cogs.characters",
)
# How often the database file is checked to be the one the bot has open.
DATABASE_CHECK_EVERY = 5.0


class SheetBot(commands.AutoShardedBot):
    """A bot that draws character sheets for the members of its servers."""

    def __init__(
        self,
        settings: Settings,
        *,
        backend: Backend,
        segmind: SegmindClient,
        http: aiohttp.ClientSession,
        metrics: Metrics,
        classifier: ClassifierWhenNeeded,
        sync_only: bool = False,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            tree_cls=SheetTree,
            **_sharding(settings),
        )
        store = backend.store
        self.settings = settings
        self.store = store
        self.segmind = segmind
        self.metrics = metrics
        self.sync_only = sync_only
        self.background = Background(metrics)
        courier = Courier(self)
        self.placeholders = Placeholders(courier)
        members = DiscordMembers(self, courier, self.placeholders, sheet_buttons, reroll_button)
        self.safety = Safety(
            classifier,
            SafetyRules(
                threshold=settings.safety_threshold,
                default_mode=SafetyMode(settings.safety_mode),
            ),
            metrics,
            members,
        )
        # With several processes another may change a server's settings: read them again soon.
        self.servers = Servers(
            store,
            operator=OperatorRules(
                moderator_roles=settings.moderator_role_ids,
                blocked_words=tuple(parse_words(settings.blocked_words)),
                dm_daily_limit=settings.dm_daily_limit,
                dm_budget=settings.dm_budget_credits,
            ),
            fresh_for=None if backend.lease_seconds is None else 2.0,
        )
        self.ledger = Ledger(store)
        self.engine = JobEngine(
            store=store,
            line=backend.line,
            segmind=segmind,
            members=members,
            servers=self.servers,
            safety=self.safety,
            metrics=metrics,
            rules=EngineRules(
                limits=Limits(
                    cooldown_seconds=settings.cooldown_seconds,
                    max_waiting=settings.max_queue,
                    max_per_user=settings.max_jobs_per_user,
                ),
                concurrency=settings.max_concurrent_jobs,
                sheet_cost=settings.sheet_cost_credits,
                delivery=DeliveryRules(
                    retry_seconds=settings.delivery_retry_seconds,
                    retry_hours=settings.delivery_retry_hours,
                ),
                log_prompts=settings.log_prompts,
                lease_seconds=backend.lease_seconds,
            ),
        )
        self.jobs = self.engine.jobs
        self.intake = Intake(
            jobs=self.jobs,
            servers=self.servers,
            http=http,
            rules=IntakeRules(
                allow_dms=settings.allow_dms,
                max_bytes=settings.max_pose_bytes,
                max_pixels=settings.max_pose_pixels,
                download_seconds=settings.pose_download_seconds,
            ),
            metrics=metrics,
            safety=self.safety,
            admission_wait=None if backend.lease_seconds is None else ADMISSION_WAIT,
        )
        self._closing = False
        self._file_problem: str | None = None
        self.characters = CharacterDesk(
            store=store,
            servers=self.servers,
            intake=self.intake,
            limit=settings.max_saved_characters,
        )
        self.sheet_actions = SheetActions(
            store=store,
            servers=self.servers,
            intake=self.intake,
            characters=self.characters,
            rules=ButtonRules(
                open_reroll=settings.open_reroll,
                pose_retention_days=settings.pose_retention_days,
            ),
        )
        self.forms = FormRoutes()
        self.forms.add(EDIT_FORM, self.sheet_actions.edited)
        self.pose_forms = PoseForms(self.intake)
        self.forms.add(POSE_FORM, self.pose_forms.sent)
        self.forms.add(SAVE_FORM, self.characters.saved)
        self.sheets_pages = SheetsPages(store)
        # Each paged list by the name its Previous and Next buttons carry.
        self.pages: dict[str, Pages] = {"sheets": self.sheets_pages, "characters": self.characters}

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CommandTranslator())
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(SheetButton, PageButton)
        await self.sync_commands(force=self.sync_only)
        if self.sync_only:
            return
        # The engine starts now, before the gateway: Discord sends interactions as soon as the
        # session is READY, and delivery needs only REST.
        self.engine.start(self.background)
        self.metrics.watch_queue(lambda: self.jobs.waiting)
        self.background.once("watch the event loop", lambda: watch_loop(self.metrics))
        self.background.once("check the Segmind key", self._check_segmind)
        if self.settings.blocked_words:  # the word filter's table, before the first request
            self.background.once("build the look-alike table", lookalikes.prepare)
        self.background.every(3600, "forget old poses", self._forget_old_poses)
        self.background.every(DATABASE_CHECK_EVERY, "check the database file", self._check_file)

    async def _forget_old_poses(self) -> None:
        # Poses are kept for re-rolls only as long as the operator allows.
        retention = self.settings.pose_retention_days * 86400
        forgotten = await self.store.forget_old_poses(time.time() - retention)
        if forgotten:
            log.info("forgot %d pose(s) older than the retention limit", forgotten)

    async def _check_file(self) -> None:
        # An operator's clean-up script deleting the file would otherwise go unnoticed until
        # the next restart lost everything written since. Said loudly, once per change.
        problem = self.store.file_problem()
        if problem is not None and problem != self._file_problem:
            log.error(problem)
        self._file_problem = problem

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        # Submitted forms are routed by their custom_id, so they work after a restart too.
        await self.forms.dispatch(interaction)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        # The bot left (or was removed from) a server: its shared characters go with it.
        try:
            forgotten = await self.store.clear_shelf(server_shelf(guild.id))
        except Exception:
            log.exception("could not forget the shared characters of guild %d", guild.id)
            return
        log.info("left guild %d: forgot its %d shared character(s)", guild.id, forgotten)

    async def on_ready(self) -> None:
        # May fire again after a reconnect; nothing may start twice here.
        log.info("ready as %s in %d server(s)", self.user, len(self.guilds))

    async def _check_segmind(self) -> None:
        # Tell the operator at start-up, not at the first member's request, if the key is bad.
        try:
            balance = await self.segmind.credits()
        except AuthError:
            log.error("Segmind refused SEGMIND_API_KEY: sheets will fail until it is fixed")
        except SegmindError as exc:
            log.warning("could not check the Segmind balance at start-up: %s", exc)
        else:
            self.metrics.credits_left.set(balance.credits)
            log.info("Segmind key accepted: %.2f credits left", balance.credits)

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Register the slash commands if their definition changed since the last sync."""
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        definition = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        target = f"guild:{guild.id}" if guild else "global"
        # The translations are in the catalogs: only a sync reads them all (`tree.sync`).
        catalogs = await asyncio.to_thread(locales.catalogs_digest)  # ten files: not on the loop
        digest = hashlib.sha256(
            json.dumps([target, definition, catalogs], sort_keys=True).encode()
        ).hexdigest()
        if not force and await self.store.fact("command_hash") == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        await self.tree.sync(guild=guild)
        if self.tree.translator is not None:
            await self.tree.translator.unload()  # the catalogs it read, let go
        await self.store.set_fact("command_hash", digest)
        log.info("slash commands synced (%s)", target)
        return True

    async def close(self) -> None:
        """Stop taking requests, let running jobs finish within the grace period, then close.

        Also what discord.py calls when Discord ends the session for good (a fatal close code):
        the jobs still finish, over REST, before the connection to Discord goes.
        """
        if self._closing:
            await super().close()
            return
        self._closing = True
        try:
            log.info("shutting down: no new requests, finishing running jobs")
            cut = await self.engine.stop(self.settings.shutdown_grace_seconds)
            await self.placeholders.close()
            if cut:
                log.warning("%d job(s) cut short by the shutdown; reported on restart", cut)
            await self.background.close()
            self.safety.close()
        finally:
            # Whatever ended the steps above (a failure, a cancellation), the connection to
            # Discord and its HTTP session are closed: left open, aiohttp's connector leaks.
            await super().close()


def _sharding(settings: Settings) -> dict[str, Any]:
    # Without SHARD_COUNT one shard; with it, this process's shards (SHARD_IDS; all if unset).
    if settings.shard_count is None:
        return {"shard_count": 1}
    return {"shard_count": settings.shard_count, "shard_ids": list(settings.shard_ids) or None}
