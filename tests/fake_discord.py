"""A strict, wire-level fake of Discord for tests.

``FakeDiscord`` runs an aiohttp server on 127.0.0.1 with

* REST under ``/api/v10`` (login, gateway discovery, application commands, interaction callbacks,
  interaction webhooks, channel messages, DM channels),
* a gateway websocket at ``/gateway`` (HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats,
  INTERACTION_CREATE dispatches),
* a CDN route ``/cdn/attachments/{channel}/{id}/{filename}`` serving hosted attachment bytes.

It holds several guilds, each with its own roles and text channels (threads too): the default
guild and channel are ``guild_id`` / ``channel_id``; ``add_guild``, ``add_channel``,
``add_thread`` and ``add_role`` add more (in READY + GUILD_CREATE when added before the bot
connects, as gateway events after), and ``invoke(..., guild_id=, channel_id=)`` chooses where a
command is used.

Gateway sharding works as on Discord: IDENTIFY carries ``shard: [shard_id, shard_count]``
(absent = ``[0, 1]``); guild ``g`` belongs to shard ``(g >> 22) % shard_count`` (``shard_of``);
each shard's connection gets READY + GUILD_CREATE for its own guilds only and every dispatch of
its guilds (DM interactions go to shard 0).  Several connections (processes) may be live at
once, one per shard, all with the same shard_count; the newest IDENTIFY of a shard supersedes
the older one.  Bad shards close 4010, too few shards (``required_shards``) close 4011.  The
default guild is on shard 0 for every shard_count dividing 840 (1-8, 10, 12, 14, 15, ...);
``add_guild(shard=, shard_count=)`` / ``guild_id_on_shard`` place other guilds.

It is strict: every broken rule is answered the way Discord answers it *and* recorded in
``violations`` (human readable), so a test can ``assert fake.violations == []``.  Every JSON body
the client sends is validated against Discord's OpenAPI spec (``discord-openapi.json`` next to
this file).

Point discord.py at it with ``discord.http.Route.BASE = fake.api_base`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import mimetypes
import re
import secrets
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import WSMsgType, web
from jsonschema import Draft202012Validator, validators
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "DEFAULT_APP_PERMISSIONS",
    "Attachment",
    "FakeDiscord",
    "InteractionRecord",
    "Message",
    "Permissions",
]

SPEC_PATH = Path(__file__).with_name("discord-openapi.json")
DISCORD_EPOCH_MS = 1_420_070_400_000
# The default guild's (id >> 22) is a multiple of this: it is on shard 0 for every shard_count
# that divides it (1-8, 10, 12, 14, 15, 20, ...), like the DMs.
DEFAULT_GUILD_SHARD_MODULUS = 840


class Permissions:
    """Permission bits (subset) used by the fake."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38


DEFAULT_APP_PERMISSIONS = (
    Permissions.VIEW_CHANNEL
    | Permissions.SEND_MESSAGES
    | Permissions.EMBED_LINKS
    | Permissions.ATTACH_FILES
    | Permissions.READ_MESSAGE_HISTORY
    | Permissions.ADD_REACTIONS
    | Permissions.USE_EXTERNAL_EMOJIS
    | Permissions.USE_APPLICATION_COMMANDS
    | Permissions.SEND_MESSAGES_IN_THREADS
)
EVERYONE_PERMISSIONS = (
    Permissions.CREATE_INSTANT_INVITE
    | Permissions.ADD_REACTIONS
    | Permissions.VIEW_CHANNEL
    | Permissions.SEND_MESSAGES
    | Permissions.EMBED_LINKS
    | Permissions.ATTACH_FILES
    | Permissions.READ_MESSAGE_HISTORY
    | Permissions.USE_EXTERNAL_EMOJIS
    | Permissions.USE_APPLICATION_COMMANDS
)

FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_COMPONENTS_V2 = 1 << 15

OPTION_TYPE_NAMES = {
    1: "SUB_COMMAND",
    2: "SUB_COMMAND_GROUP",
    3: "STRING",
    4: "INTEGER",
    5: "BOOLEAN",
    6: "USER",
    7: "CHANNEL",
    8: "ROLE",
    9: "MENTIONABLE",
    10: "NUMBER",
    11: "ATTACHMENT",
}
COMPONENT_INTERACTIVE_TYPES = {2, 3, 5, 6, 7, 8}


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


# --------------------------------------------------------------------------------------------
# OpenAPI validation (spec loaded once per process, one validator per operation, cached)
# --------------------------------------------------------------------------------------------

_SPEC: dict[str, Any] | None = None
_REGISTRY: Registry | None = None
_VALIDATORS: dict[tuple[str, str], Any] = {}
_SPEC_URI = "urn:discord-openapi"
_base_type_check = Draft202012Validator.VALIDATORS["type"]


def _snowflake_aware_type(validator: Any, types: Any, instance: Any, schema: Any) -> Any:
    # discord.py sends some snowflakes as JSON integers (attachments[].id, allowed_mentions.users,
    # ...) where the spec says "string, format snowflake".  Discord accepts both, so an int is
    # treated as its decimal string here: non-negative ints are valid snowflakes.
    if (
        isinstance(schema, dict)
        and schema.get("format") == "snowflake"
        and isinstance(instance, int)
        and not isinstance(instance, bool)
        and instance >= 0
    ):
        return
    yield from _base_type_check(validator, types, instance, schema)


_SpecValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"type": _snowflake_aware_type}
)


def load_spec() -> dict[str, Any]:
    global _SPEC, _REGISTRY
    if _SPEC is None:
        spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
        version = str(spec.get("openapi", ""))
        if not version.startswith("3.1"):  # 3.1 means JSON Schema 2020-12 dialect
            raise RuntimeError(f"unsupported OpenAPI version {version!r}")
        _SPEC = spec
        _REGISTRY = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(spec))
    return _SPEC


def _pointer(*parts: str) -> str:
    return "/".join(quote(p.replace("~", "~0").replace("/", "~1"), safe="") for p in parts)


def request_validator(spec_path: str, method: str) -> Any | None:
    """The cached JSON-body validator of one operation, or None if it takes no JSON body."""
    key = (spec_path, method.lower())
    if key in _VALIDATORS:
        return _VALIDATORS[key]
    spec = load_spec()
    op = spec["paths"].get(spec_path, {}).get(method.lower())
    if op is None:
        raise KeyError(f"operation {method} {spec_path} is not in the OpenAPI spec")
    content = op.get("requestBody", {}).get("content", {})
    validator = None
    if "application/json" in content:
        ref = "/".join(
            [
                _SPEC_URI + "#",
                _pointer("paths", spec_path, method.lower(), "requestBody", "content"),
                _pointer("application/json", "schema"),
            ]
        )
        validator = _SpecValidator({"$ref": ref}, registry=_REGISTRY)
    _VALIDATORS[key] = validator
    return validator


def _describe_error(err: Any) -> tuple[list[Any], str]:
    # Walk into anyOf/oneOf contexts, preferring the branch that got furthest (deepest path)
    # and ignoring mere discriminator mismatches on a "type" key.
    while err.context:
        cands = [
            c
            for c in err.context
            if not (c.validator in ("enum", "const") and list(c.relative_path)[-1:] == ["type"])
        ] or list(err.context)
        err = max(cands, key=lambda c: len(c.absolute_path))
    path = list(err.absolute_path)
    msg = err.message
    if len(msg) > 300:
        msg = msg[:300] + "..."
    where = "/".join(str(p) for p in path) or "<root>"
    return path, f"{where}: {msg}"


def validate_body(spec_path: str, method: str, body: Any) -> list[tuple[list[Any], str]]:
    validator = request_validator(spec_path, method)
    if validator is None:
        return []
    return [_describe_error(e) for e in validator.iter_errors(body)]


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass
class Attachment:
    filename: str
    content_type: str | None
    data: bytes
    id: int
    description: str | None = None
    url: str = ""
    declared_size: int | None = None  # what Discord says the file weighs, if not its bytes

    @property
    def size(self) -> int:
        return len(self.data) if self.declared_size is None else self.declared_size

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type is not None:
            out["content_type"] = self.content_type
        if self.description is not None:
            out["description"] = self.description
        return out


_MENTION_RE = re.compile(r"<@!?(\d+)>")


@dataclass
class Message:
    id: int
    channel_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict[str, Any] | None = None
    attachments: list[Attachment] = field(default_factory=list)
    deleted: bool = False
    deleted_by_a_person: bool = False  # not by the bot: the bot cannot know until it tries
    edits: int = 0
    # extra bookkeeping
    kind: str = "channel"  # "channel" | "dm" | "original" | "followup"
    tts: bool = False
    author: dict[str, Any] = field(default_factory=dict)
    guild_id: int | None = None
    interaction_id: int | None = None
    webhook_id: int | None = None
    timestamp: str = field(default_factory=_now_iso)
    edited_timestamp: str | None = None
    payloads: list[dict[str, Any]] = field(default_factory=list)  # every body that shaped it

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    @property
    def mentioned_user_ids(self) -> list[int]:
        return [int(m) for m in _MENTION_RE.findall(self.content)]

    @property
    def pinged_user_ids(self) -> list[int]:
        """Users mentioned in content that allowed_mentions lets Discord actually ping."""
        am = self.allowed_mentions
        ids = self.mentioned_user_ids
        if am is None:
            return ids
        if "users" in (am.get("parse") or []):
            return ids
        allowed = {int(u) for u in am.get("users") or []}
        return [i for i in ids if i in allowed]

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in _walk_components(self.components) if "custom_id" in c]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": 0,
            "content": self.content,
            "author": self.author,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": False,
            "mentions": [_user_stub(i) for i in dict.fromkeys(self.mentioned_user_ids)],
            "mention_roles": [],
            "attachments": [a.to_json() for a in self.attachments],
            "embeds": self.embeds,
            "pinned": False,
            "flags": self.flags,
            "components": self.components,
        }
        if self.webhook_id is not None:
            out["webhook_id"] = str(self.webhook_id)
            out["application_id"] = str(self.webhook_id)
        if self.guild_id is not None:
            out["guild_id"] = str(self.guild_id)
        return out


def _walk_components(components: Any) -> Any:
    if isinstance(components, list):
        for c in components:
            yield from _walk_components(c)
    elif isinstance(components, dict):
        yield components
        for key in ("components", "accessory", "component"):
            if key in components:
                yield from _walk_components(components[key])


def _user_stub(user_id: int) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": f"user{user_id}",
        "discriminator": "0",
        "global_name": f"User {user_id}",
        "avatar": None,
        "bot": False,
        "system": False,
        "public_flags": 0,
    }


@dataclass(eq=False)
class InteractionRecord:
    id: int
    token: str
    user_id: int
    type: int  # 2 application command, 3 component, 5 modal submit
    name: str  # command name, or custom_id for components / modals
    payload: dict[str, Any]
    sent_at: float
    expires_at: float
    channel_id: int
    guild_id: int | None
    acked_at: float | None = None
    ack_type: int | None = None
    ephemeral: bool = False
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    message: Message | None = None  # the message a component was clicked on
    modal: dict[str, Any] | None = None  # data of a type 9 (modal) response
    choices: list[dict[str, Any]] | None = None  # an autocomplete's answer (type 8)
    callback_data: dict[str, Any] | None = None
    thinking: bool = False  # deferred (type 5) and the loading message not yet replaced
    # True when the first followup after a deferral replaced the thinking message (Discord's
    # behaviour): that followup's Message is then the same object as ``original``.
    first_followup_edited_original: bool = False
    shard: int | None = None  # the gateway shard it was dispatched on
    _fake: FakeDiscord | None = field(default=None, repr=False)

    @property
    def ack_latency(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.sent_at

    @property
    def all_messages(self) -> list[Message]:
        out = [self.original] if self.original else []
        return out + [m for m in self.followups if m is not self.original]

    async def wait_for(
        self, predicate: Callable[[InteractionRecord], bool], timeout: float = 15
    ) -> None:
        assert self._fake is not None
        await self._fake._wait(
            lambda: predicate(self),
            timeout,
            lambda: f"interaction {self.name!r} ({self.id}) events={self.events}",
        )


@dataclass
class _Channel:
    """A guild channel: a text channel (type 0) or a public thread (type 11) in one."""

    id: int
    guild_id: int
    name: str
    position: int
    type: int = 0
    parent_id: int | None = None
    nsfw: bool = False  # age-restricted (text channels; a thread has no flag of its own)


@dataclass
class _Guild:
    """A guild the bot is in: its own roles (id -> name), bot role and channels."""

    id: int
    name: str
    bot_role_id: int
    roles: dict[int, str] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)  # text channels, in order
    thread_ids: list[int] = field(default_factory=list)
    # The server's language (Server Settings → Community): interactions' guild_locale.
    preferred_locale: str = "en-US"


@dataclass
class _Hosted:
    data: bytes
    content_type: str | None
    filename: str
    channel_id: int
    bytes_per_second: float | None = None  # a slow CDN edge; None = as fast as it goes


@dataclass
class _Req:
    method: str
    path: str
    query: Any
    headers: Any
    m: dict[str, str]
    json: Any = None
    files: list[tuple[str, str, str | None, bytes]] = field(default_factory=list)
    has_body: bool = False


class _Reply(Exception):
    """Raised inside handlers to answer with an error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _GatewayConn:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        number: int,
        sent: list[tuple[str, dict[str, Any]]],
        by_shard: list[tuple[int, str, dict[str, Any]]],
    ) -> None:
        self.sent = sent
        self.by_shard = by_shard
        self.ws = ws
        self.number = number
        self.seq = 0
        self.session_id: str | None = None
        self.identified = False
        self.ready = False
        self.lock = asyncio.Lock()
        self.identify: dict[str, Any] | None = None
        self.shard: tuple[int, int] = (0, 1)  # (shard_id, shard_count) it IDENTIFYed with

    @property
    def live(self) -> bool:
        return self.identified and not self.ws.closed

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        async with self.lock:
            self.seq += 1
            self.sent.append((event, data))
            self.by_shard.append((self.shard[0], event, data))
            await self.ws.send_str(json.dumps({"op": 0, "t": event, "s": self.seq, "d": data}))


def _json_response(status: int, body: Any) -> web.Response:
    # Exactly "application/json": discord.py compares the header string.
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )


def _err(status: int, code: int, message: str, errors: Any = None) -> _Reply:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return _Reply(status, body)


_Handler = Callable[[_Req], Awaitable[tuple[int, Any]]]


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeDiscord:
    """A strict wire-level fake Discord. See the module docstring."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        attachment_size_limit: int = 10 * 1024 * 1024,
        token_lifetime: float = 900.0,
        ack_window: float = 3.0,
        heartbeat_interval_ms: int = 41250,
    ) -> None:
        self.token = token
        self.attachment_size_limit = attachment_size_limit
        self.token_lifetime = token_lifetime
        self.ack_window = ack_window
        self.heartbeat_interval_ms = heartbeat_interval_ms

        self._last_snowflake = 0
        self.application_id = self._snowflake()
        self.bot_user_id = self.application_id  # modern apps: bot user id == application id
        self.owner_id = self._snowflake()
        # The default guild and its first text channel; add_guild() and add_channel() add more.
        self.guild_id = self.guild_id_on_shard(0, DEFAULT_GUILD_SHARD_MODULUS)
        self.channel_id = self._snowflake()
        self.bot_role_id = self._snowflake()
        self._guilds: dict[int, _Guild] = {}
        self._channels: dict[int, _Channel] = {}  # every guild channel and thread by id
        self._guilds[self.guild_id] = _Guild(self.guild_id, "Fake Guild", self.bot_role_id)
        self._new_channel(self.guild_id, self.channel_id, "general")
        # Plain roles of the default guild (id -> name), sent in GUILD_CREATE; see add_role().
        self.roles: dict[int, str] = self._guilds[self.guild_id].roles
        self.denied_channels: set[int] = set()  # channels where sends answer 403 50013
        self._announcing: set[asyncio.Task[None]] = set()

        self.port: int | None = None
        self.api_base = ""
        self.gateway_url = ""
        self.base_url = ""

        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []
        # Every REST request: method, path, query, "at" (monotonic time it reached the fake),
        # "json" (its JSON or payload_json), "upload_sizes" (bytes of each file), status, response.
        self.request_log: list[dict[str, Any]] = []
        self.expired_token_uses: list[tuple[str, str]] = []
        self.denied_sends: list[tuple[int, int]] = []  # (channel_id, http status)

        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs = 0

        self.interactions: list[InteractionRecord] = []
        self._int_by_id: dict[int, InteractionRecord] = {}
        self._int_by_token: dict[str, InteractionRecord] = {}

        self.messages: dict[int, Message] = {}  # every message the fake knows by id
        self.channel_messages: list[Message] = []
        self.dm_messages: list[Message] = []
        self.dm_channels: dict[int, int] = {}  # user_id -> dm channel id
        self._dm_channel_users: dict[int, int] = {}  # dm channel id -> user_id
        self.closed_dms: set[int] = set()  # users whose DMs answer 403 50007
        self.deny_channel_send = False
        self.failed_on_purpose: list[tuple[str, str, int]] = []
        self.users: dict[int, dict[str, Any]] = {}  # overrides of generated user objects
        self._injected_429: list[list[Any]] = []  # [method, regex, retry_after, count, global, via]
        self._injected_errors: list[list[Any]] = []  # [method, regex, status, code, count]
        self.rate_limited: list[tuple[str, str]] = []

        self._hosted: dict[int, _Hosted] = {}
        self.cdn_downloads: list[str] = []

        self.gateway_connections = 0
        self.identifies: list[dict[str, Any]] = []
        self.heartbeat_log: list[float] = []
        self.ready_count = 0
        self.gateway_events: list[tuple[str, dict[str, Any]]] = []  # every dispatch (t, d) sent
        self._dispatch_log: list[tuple[int, str, dict[str, Any]]] = []  # (shard, t, d)
        self._conns: set[_GatewayConn] = set()
        # shard_id -> the newest READY connection of that shard (it gets the shard's dispatches)
        self._shard_conns: dict[int, _GatewayConn] = {}
        self._last_shard_count = 1
        # The shard count Discord requires (GET /gateway/bot "shards"); an IDENTIFY with fewer
        # shards is closed 4011 and recorded in sharding_refusals (not a violation: a test sets
        # required_shards to see what the bot does about it).
        self.required_shards = 1
        self.sharding_refusals: list[dict[str, Any]] = []  # {"shard": [id, count], "required"}

        self._change = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        load_spec()
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_get("/cdn/attachments/{channel}/{att}/{filename}", self._cdn)
        app.router.add_route("*", "/{tail:.*}", self._outside)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_base = f"{self.base_url}/api/v10"
        self.gateway_url = f"ws://127.0.0.1:{self.port}/gateway"

    async def stop(self) -> None:
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ helpers

    def _snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = max(ms << 22, self._last_snowflake + 1)
        self._last_snowflake = value
        return value

    def guild_id_on_shard(self, shard: int, shard_count: int) -> int:
        """A fresh snowflake (later than every id the fake made) with
        ``(id >> 22) % shard_count == shard``: a guild id on that shard.  It is at most
        ``shard_count`` ms ahead of the clock."""
        if shard_count < 1 or not 0 <= shard < shard_count:
            raise AssertionError(f"shard {shard} of {shard_count} is not a valid shard")
        ms = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, (self._last_snowflake >> 22) + 1)
        ms += (shard - ms) % shard_count
        self._last_snowflake = ms << 22
        return self._last_snowflake

    @property
    def shard_count(self) -> int:
        """The shard count in use: that of the live (IDENTIFYed, open) connections, else of the
        last IDENTIFY; 1 when the bot never sharded."""
        live = [c for c in self._conns if c.live]
        return live[0].shard[1] if live else self._last_shard_count

    def shard_of(self, guild_id: int) -> int:
        """The shard a guild's events go to: ``(guild_id >> 22) % shard_count``."""
        return (guild_id >> 22) % self.shard_count

    @property
    def connected_shards(self) -> list[int]:
        """The shards that have a READY, open connection (the one getting their dispatches)."""
        return sorted(s for s, c in self._shard_conns.items() if c.ready and not c.ws.closed)

    def events_on_shard(self, shard: int) -> list[tuple[str, dict[str, Any]]]:
        """Every dispatch (t, d) sent on connections IDENTIFYed as ``shard``, in order."""
        return [(t, d) for s, t, d in self._dispatch_log if s == shard]

    @property
    def _active(self) -> _GatewayConn | None:
        # The connection of shard 0 (the only one when unsharded); kept for older tests.
        conn = self._shard_conns.get(0)
        return conn if conn is not None and conn.ready and not conn.ws.closed else None

    def _changed(self) -> None:
        ev, self._change = self._change, asyncio.Event()
        ev.set()

    async def _wait(
        self, predicate: Callable[[], bool], timeout: float, describe: Callable[[], str]
    ) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    # Wake on every change the fake sees; also poll, so predicates over state
                    # outside the fake (e.g. the bot's own records) work too.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._change.wait(), 0.05)
        except TimeoutError:
            raise AssertionError(
                f"timed out after {timeout}s waiting: {describe()}; violations={self.violations}"
            ) from None

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 15) -> None:
        """Wait until predicate() (re-checked on every change the fake sees) is true."""
        await self._wait(
            predicate,
            timeout,
            lambda: (
                f"channel_messages={len(self.channel_messages)} dm_messages="
                f"{len(self.dm_messages)} requests(last 10)={self.requests[-10:]}"
            ),
        )

    async def wait_ready(self, timeout: float = 15, shards: int | None = None) -> None:
        """A bot is connected, has IDENTIFYed and got READY + GUILD_CREATE (on some shard).

        With ``shards=N``: every shard 0..N-1 has such a connection, IDENTIFYed with
        shard_count N (be it one process or several)."""

        def ready() -> bool:
            if shards is None:
                return bool(self.connected_shards)
            return all(
                (c := self._shard_conns.get(i)) is not None
                and c.ready
                and not c.ws.closed
                and c.shard == (i, shards)
                for i in range(shards)
            )

        await self._wait(
            ready,
            timeout,
            lambda: (
                f"gateway ready (shards={shards}, connections={self.gateway_connections}, "
                f"ready shards={self.connected_shards} of {self.shard_count})"
            ),
        )

    def violation(self, text: str) -> None:
        self.violations.append(text)
        self._changed()

    def user_json(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_user_id:
            return self.bot_user
        return self.users.get(user_id) or _user_stub(user_id)

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_user_id),
            "username": "FakeBot",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "system": False,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "public_flags": 0,
            "email": None,
            "locale": "en-US",
        }

    # ------------------------------------------------------------------ guilds and channels

    def _new_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str,
        *,
        kind: int = 0,
        parent_id: int | None = None,
    ) -> _Channel:
        guild = self._guilds[guild_id]
        siblings = guild.thread_ids if kind == 11 else guild.channel_ids
        channel = _Channel(channel_id, guild_id, name, len(siblings), kind, parent_id)
        siblings.append(channel_id)
        self._channels[channel_id] = channel
        return channel

    def _guild(self, guild_id: int | None) -> _Guild:
        guild = self._guilds.get(self.guild_id if guild_id is None else guild_id)
        if guild is None:
            raise AssertionError(f"guild {guild_id} is unknown (known: {list(self._guilds)})")
        return guild

    def _channel(self, channel_id: int) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise AssertionError(f"channel {channel_id} is not a channel of any guild")
        return channel

    @property
    def guild_ids(self) -> list[int]:
        """Every guild the bot is in, the default one first."""
        return list(self._guilds)

    def add_guild(
        self,
        name: str = "Another Guild",
        *,
        channel_name: str = "general",
        shard: int | None = None,
        shard_count: int | None = None,
        preferred_locale: str = "en-US",
    ) -> int:
        """A guild the bot is in, with its own bot role and first text channel; its id.

        Added before the bot connects, it is in READY and has its GUILD_CREATE; added while a
        bot is connected, it is sent as GUILD_CREATE then (the bot joined it), on its shard's
        connection.  With ``shard`` and ``shard_count`` its id falls on that shard
        (``(id >> 22) % shard_count == shard``); otherwise it lands wherever its id says."""
        if (shard is None) != (shard_count is None):
            raise AssertionError("add_guild: pass both shard= and shard_count=, or neither")
        if shard is not None and shard_count is not None:
            guild_id = self.guild_id_on_shard(shard, shard_count)
        else:
            guild_id = self._snowflake()
        self._guilds[guild_id] = _Guild(
            guild_id, name, self._snowflake(), preferred_locale=preferred_locale
        )
        self._new_channel(guild_id, self._snowflake(), channel_name)
        self._announce("GUILD_CREATE", lambda: self.guild_json(guild_id), guild_id)
        return guild_id

    async def remove_guild(self, guild_id: int) -> None:
        """The bot is removed from a guild (kicked, or the guild deleted): GUILD_DELETE without
        `unavailable`, on the guild's shard. Its channels stay known, for the test's records."""
        if guild_id not in self._guilds or guild_id == self.guild_id:
            raise AssertionError("remove a guild added with add_guild")
        self._announce("GUILD_DELETE", lambda: {"id": str(guild_id)}, guild_id)
        await self._announced()
        del self._guilds[guild_id]

    def channels_of(self, guild_id: int | None = None) -> list[int]:
        """The text channels of a guild (default: the default guild), first one first."""
        return list(self._guild(guild_id).channel_ids)

    def guild_of(self, channel_id: int) -> int:
        """The guild a channel or thread belongs to."""
        return self._channel(channel_id).guild_id

    def set_preferred_locale(self, locale: str, guild_id: int | None = None) -> None:
        """A Community server's language (default: the default guild's), before the bot
        connects: it reads it in GUILD_CREATE, and every interaction carries it."""
        self._guild(guild_id).preferred_locale = locale

    def add_channel(
        self, guild_id: int | None = None, name: str = "channel", *, nsfw: bool = False
    ) -> int:
        """A new text channel in a guild (default: the default guild); its id. `nsfw`: an
        age-restricted channel (Discord's `nsfw` flag)."""
        guild = self._guild(guild_id)
        channel = self._new_channel(guild.id, self._snowflake(), name)
        channel.nsfw = nsfw
        self._announce("CHANNEL_CREATE", lambda: self.channel_json(channel_id=channel.id), guild.id)
        return channel.id

    def add_thread(self, channel_id: int, name: str = "thread") -> int:
        """A public thread in a text channel; its id. Interactions and sends work in it."""
        parent = self._channel(channel_id)
        if parent.type != 0:
            raise AssertionError(f"channel {channel_id} is not a text channel")
        thread = self._new_channel(
            parent.guild_id, self._snowflake(), name, kind=11, parent_id=parent.id
        )
        self._announce(
            "THREAD_CREATE",
            lambda: {**self.channel_json(channel_id=thread.id), "newly_created": True},
            parent.guild_id,
        )
        return thread.id

    def messages_in(self, channel_id: int) -> list[Message]:
        """The messages the bot sent in a channel with its own token (not interaction ones)."""
        return [m for m in self.channel_messages if m.channel_id == channel_id]

    def _announce(self, event: str, data: Callable[[], dict[str, Any]], guild_id: int) -> None:
        # A change made while a bot is connected reaches it as Discord sends it: as a gateway
        # event, on the connection of the guild's shard (none connected: it gets the change in
        # its GUILD_CREATE when it connects). The next interaction waits for it, so the bot
        # knows the change first.
        conn = self._shard_conns.get(self.shard_of(guild_id))
        if conn is None or not conn.ready or conn.ws.closed:
            return
        task = asyncio.ensure_future(conn.dispatch(event, data()))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def _announced(self) -> None:
        if self._announcing:
            await asyncio.gather(*self._announcing, return_exceptions=True)

    def channel_json(
        self, member_permissions: int | None = None, *, channel_id: int | None = None
    ) -> dict[str, Any]:
        """A guild channel or thread (default: the default channel); with ``permissions``
        (the member's, as in an interaction) when ``member_permissions`` is given."""
        channel = self._channel(self.channel_id if channel_id is None else channel_id)
        out: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [],
            "nsfw": channel.nsfw,
            "parent_id": None if channel.parent_id is None else str(channel.parent_id),
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if channel.type == 11:
            for key in ("permission_overwrites", "nsfw", "topic", "position"):
                del out[key]
            out.update(
                owner_id=str(self.bot_user_id),
                message_count=0,
                member_count=1,
                total_message_sent=0,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": "2024-01-01T00:00:00+00:00",
                    "locked": False,
                    "create_timestamp": "2024-01-01T00:00:00+00:00",
                },
            )
        if member_permissions is not None:
            out["permissions"] = str(member_permissions)
        return out

    def dm_channel_json(self, user_id: int) -> dict[str, Any]:
        cid = self.dm_channels.get(user_id)
        if cid is None:
            cid = self.dm_channels[user_id] = self._snowflake()
            self._dm_channel_users[cid] = user_id
        return {
            "id": str(cid),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [self.user_json(user_id)],
        }

    def _roles_json(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        guild = self._guild(guild_id)
        base = {
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return [
            {
                **base,
                "id": str(guild.id),
                "name": "@everyone",
                "position": 0,
                "permissions": str(EVERYONE_PERMISSIONS),
            },
            {
                **base,
                "id": str(guild.bot_role_id),
                "name": "FakeBot",
                "position": 1,
                "managed": True,
                "permissions": str(DEFAULT_APP_PERMISSIONS),
                "tags": {"bot_id": str(self.bot_user_id)},
            },
            *(
                {**base, "id": str(rid), "name": name, "position": 2, "permissions": "0"}
                for rid, name in guild.roles.items()
            ),
        ]

    def add_role(self, name: str, guild_id: int | None = None) -> int:
        """Create a role with no permissions in a guild (default: the default guild); its id."""
        guild = self._guild(guild_id)
        role_id = self._snowflake()
        guild.roles[role_id] = name
        self._announce(
            "GUILD_ROLE_CREATE",
            lambda: {
                "guild_id": str(guild.id),
                "role": next(r for r in self._roles_json(guild.id) if r["id"] == str(role_id)),
            },
            guild.id,
        )
        return role_id

    def member_json(
        self, user_id: int, roles: list[int] | None = None, permissions: int | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "user": self.user_json(user_id),
            "roles": [str(r) for r in (roles or [])],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "nick": None,
            "avatar": None,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            out["permissions"] = str(permissions)
        return out

    def guild_json(self, guild_id: int | None = None) -> dict[str, Any]:
        guild = self._guild(guild_id)
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": self._roles_json(guild.id),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.preferred_locale,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": 2,
            "voice_states": [],
            "members": [self.member_json(self.bot_user_id, [guild.bot_role_id])],
            "channels": [self.channel_json(channel_id=c) for c in guild.channel_ids],
            "threads": [self.channel_json(channel_id=t) for t in guild.thread_ids],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def application_json(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": "FakeBot",
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": _user_stub(self.owner_id),
            "team": None,
            "flags": 0,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self._guilds),
            "bot": self.bot_user,
            "integration_types_config": {"0": {}, "1": {}},
        }

    # ------------------------------------------------------------------ attachments / CDN

    def host_attachment(
        self,
        data: bytes,
        filename: str,
        content_type: str | None,
        *,
        declared_size: int | None = None,
        width: int | None = None,
        height: int | None = None,
        bytes_per_second: float | None = None,
    ) -> dict[str, Any]:
        """Host bytes on the fake CDN; returns a Discord attachment object pointing at them.
        ``bytes_per_second`` makes the CDN trickle them out (a slow edge)."""
        if not self.base_url:
            raise RuntimeError("start() the fake before hosting attachments")
        att_id = self._snowflake()
        self._hosted[att_id] = _Hosted(
            bytes(data), content_type, filename, self.channel_id, bytes_per_second
        )
        url = self._cdn_url(self.channel_id, att_id, filename)
        out: dict[str, Any] = {
            "id": str(att_id),
            "filename": filename,
            "size": len(data) if declared_size is None else declared_size,
            "url": url,
            "proxy_url": url,
            "ephemeral": True,
        }
        if content_type is not None:
            out["content_type"] = content_type
        if width is not None:
            out["width"] = width
        if height is not None:
            out["height"] = height
        return out

    def post_as_member(
        self,
        user_id: int,
        content: str = "",
        *,
        attachments: list[dict[str, Any]] | None = None,
        embeds: list[dict[str, Any]] | None = None,
        channel_id: int | None = None,
    ) -> Message:
        """A member's message in a channel (by default the default guild's first), with
        attachments from `host_attachment` and embeds (say, a link preview's): something a
        message command can be used on. The bot is not told (it has no message intents)."""
        channel = self._channels[channel_id or self._guild(None).channel_ids[0]]
        msg = Message(
            id=self._snowflake(),
            channel_id=channel.id,
            content=content,
            embeds=list(embeds or []),
            author=self.user_json(user_id),
            guild_id=channel.guild_id,
        )
        for hosted in attachments or []:
            stored = self._hosted[int(hosted["id"])]
            if stored.channel_id != channel.id:
                raise AssertionError("host the attachment with the channel it is posted in")
            msg.attachments.append(
                Attachment(
                    filename=stored.filename,
                    content_type=hosted.get("content_type"),
                    data=stored.data,
                    id=int(hosted["id"]),
                    url=hosted["url"],
                    declared_size=int(hosted["size"]),
                )
            )
        self.messages[msg.id] = msg
        return msg

    def embed_image(
        self, data: bytes, filename: str, *, width: int = 640, height: int = 480
    ) -> dict[str, Any]:
        """An embed's image as Discord shows it: `url` on the site it came from (never served
        here: only Discord fetches it), `proxy_url` on Discord's media proxy (this fake)."""
        hosted = self.host_attachment(data, filename, None)
        return {
            "url": f"https://images.example.invalid/{quote(filename)}",
            "proxy_url": hosted["url"],
            "width": width,
            "height": height,
        }

    def _cdn_url(self, channel_id: int, att_id: int, filename: str) -> str:
        expiry = format(int(time.time()) + 86400, "x")
        sig = secrets.token_hex(16)
        return (
            f"{self.base_url}/cdn/attachments/{channel_id}/{att_id}/{quote(filename)}"
            f"?ex={expiry}&is={format(int(time.time()), 'x')}&hm={sig}&"
        )

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        try:
            att_id = int(request.match_info["att"])
            channel = int(request.match_info["channel"])
        except ValueError:
            return web.Response(status=404, text="Not Found")
        hosted = self._hosted.get(att_id)
        if (
            hosted is None
            or hosted.channel_id != channel
            or hosted.filename != request.match_info["filename"]
        ):
            self.violation(f"CDN GET {request.path}: no such attachment")
            return web.Response(status=404, text="Not Found")
        if request.method == "GET":
            self.cdn_downloads.append(str(att_id))
            self._changed()
        headers = {"Content-Type": hosted.content_type or "application/octet-stream"}
        if hosted.bytes_per_second is None or request.method != "GET":
            return web.Response(body=hosted.data, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.content_length = len(hosted.data)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client may give up first
            for offset in range(len(hosted.data)):
                await response.write(hosted.data[offset : offset + 1])
                await asyncio.sleep(1 / hosted.bytes_per_second)
        return response

    async def _outside(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        self.violation(f"{request.method} {request.path}: not under /api/v10 (404)")
        return _json_response(404, {"message": "404: Not Found", "code": 0})

    # ------------------------------------------------------------------ REST dispatch

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], str | None, bool, _Handler]]:
        S = r"(?P<{}>\d+)"
        T = r"(?P<token>[^/]+)"
        table: list[tuple[str, str, str | None, bool, _Handler]] = [
            ("GET", "/users/@me", "/users/@me", True, self._h_me),
            ("GET", "/oauth2/applications/@me", "/oauth2/applications/@me", True, self._h_app),
            ("GET", "/applications/@me", "/applications/@me", True, self._h_app),
            ("GET", "/gateway", "/gateway", False, self._h_gateway),
            ("GET", "/gateway/bot", "/gateway/bot", True, self._h_gateway_bot),
            ("POST", "/users/@me/channels", "/users/@me/channels", True, self._h_create_dm),
            ("GET", f"/users/{S.format('user')}", "/users/{user_id}", True, self._h_user),
            (
                "GET",
                f"/guilds/{S.format('guild')}",
                "/guilds/{guild_id}",
                True,
                self._h_guild,
            ),
            (
                "GET",
                f"/guilds/{S.format('guild')}/channels",
                "/guilds/{guild_id}/channels",
                True,
                self._h_guild_channels,
            ),
            (
                "GET",
                f"/guilds/{S.format('guild')}/members/{S.format('user')}",
                "/guilds/{guild_id}/members/{user_id}",
                True,
                self._h_guild_member,
            ),
            (
                "GET",
                f"/channels/{S.format('channel')}",
                "/channels/{channel_id}",
                True,
                self._h_get_channel,
            ),
            (
                "POST",
                f"/channels/{S.format('channel')}/typing",
                "/channels/{channel_id}/typing",
                True,
                self._h_typing,
            ),
            (
                "POST",
                f"/channels/{S.format('channel')}/messages",
                "/channels/{channel_id}/messages",
                True,
                self._h_channel_send,
            ),
            (
                "GET",
                f"/channels/{S.format('channel')}/messages/{S.format('message')}",
                "/channels/{channel_id}/messages/{message_id}",
                True,
                self._h_channel_get,
            ),
            (
                "PATCH",
                f"/channels/{S.format('channel')}/messages/{S.format('message')}",
                "/channels/{channel_id}/messages/{message_id}",
                True,
                self._h_channel_edit,
            ),
            (
                "DELETE",
                f"/channels/{S.format('channel')}/messages/{S.format('message')}",
                "/channels/{channel_id}/messages/{message_id}",
                True,
                self._h_channel_delete,
            ),
            (
                "POST",
                f"/interactions/{S.format('iid')}/{T}/callback",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                False,
                self._h_callback,
            ),
            (
                "POST",
                f"/webhooks/{S.format('app')}/{T}",
                "/webhooks/{webhook_id}/{webhook_token}",
                False,
                self._h_followup,
            ),
            (
                "GET",
                f"/webhooks/{S.format('app')}/{T}/messages/@original",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                False,
                self._h_wh_get,
            ),
            (
                "PATCH",
                f"/webhooks/{S.format('app')}/{T}/messages/@original",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                False,
                self._h_wh_edit,
            ),
            (
                "DELETE",
                f"/webhooks/{S.format('app')}/{T}/messages/@original",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                False,
                self._h_wh_delete,
            ),
            (
                "GET",
                f"/webhooks/{S.format('app')}/{T}/messages/{S.format('message')}",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                False,
                self._h_wh_get,
            ),
            (
                "PATCH",
                f"/webhooks/{S.format('app')}/{T}/messages/{S.format('message')}",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                False,
                self._h_wh_edit,
            ),
            (
                "DELETE",
                f"/webhooks/{S.format('app')}/{T}/messages/{S.format('message')}",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                False,
                self._h_wh_delete,
            ),
        ]
        for scope, prefix, spec_prefix in (
            ("global", f"/applications/{S.format('app')}", "/applications/{application_id}"),
            (
                "guild",
                f"/applications/{S.format('app')}/guilds/{S.format('guild')}",
                "/applications/{application_id}/guilds/{guild_id}",
            ),
        ):
            del scope
            cmds, one = f"{prefix}/commands", f"{prefix}/commands/{S.format('cmd')}"
            scmds, sone = f"{spec_prefix}/commands", f"{spec_prefix}/commands/{{command_id}}"
            table += [
                ("GET", cmds, scmds, True, self._h_cmd_list),
                ("PUT", cmds, scmds, True, self._h_cmd_bulk),
                ("POST", cmds, scmds, True, self._h_cmd_create),
                ("GET", one, sone, True, self._h_cmd_get),
                ("PATCH", one, sone, True, self._h_cmd_patch),
                ("DELETE", one, sone, True, self._h_cmd_delete),
            ]
        return [(m, re.compile(f"^{p}$"), sp, auth, h) for m, p, sp, auth, h in table]

    async def _read_body(self, request: web.Request, req: _Req) -> None:
        ctype = request.content_type
        if not request.body_exists:
            return
        if ctype.startswith("multipart/"):
            req.has_body = True
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                data = bytes(await part.read(decode=False))  # type: ignore[union-attr]
                name = part.name or ""  # type: ignore[union-attr]
                if name == "payload_json":
                    try:
                        req.json = json.loads(data)
                    except ValueError as e:
                        raise _err(400, 50109, "The request body contains invalid JSON.") from e
                else:
                    fname = part.filename or ""  # type: ignore[union-attr]
                    req.files.append((name, fname, part.headers.get("Content-Type"), data))
            return
        raw = await request.read()
        if not raw:
            return
        req.has_body = True
        if ctype != "application/json":
            raise _err(400, 50035, f"Invalid Form Body (unsupported Content-Type {ctype!r})")
        try:
            req.json = json.loads(raw)
        except ValueError as e:
            raise _err(400, 50109, "The request body contains invalid JSON.") from e

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        self.requests.append((method, path))
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": dict(request.query),
            "at": time.monotonic(),
        }
        self.request_log.append(entry)
        self._changed()
        limited = self._maybe_429(method, path) or self._maybe_error(method, path)
        if limited is not None:
            entry["status"] = limited.status
            await request.read()
            return limited
        try:
            status, body = await self._route(request, entry)
        except _Reply as r:
            status, body = r.status, r.body
        except Exception as e:  # a bug in the fake: make it loud, but don't trigger 5xx retries
            self.violation(f"{method} {path}: fake internal error: {e!r}\n{traceback.format_exc()}")
            status, body = 400, {"message": f"fake internal error: {e!r}", "code": 0}
        entry["status"] = status
        entry["response"] = body
        self._changed()
        if status == 204 or body is None:
            return web.Response(status=status)
        return _json_response(status, body)

    def inject_429(
        self,
        method: str,
        path_regex: str,
        *,
        retry_after: float = 0.05,
        count: int = 1,
        is_global: bool = False,
        via: bool = True,
    ) -> None:
        """Answer the next ``count`` matching REST calls with a proper 429 (Via header, JSON
        body with retry_after), as Discord's rate limiter does.  Not a violation.
        ``via=False``: a proxy's own 429, without Discord's Via header."""
        self._injected_429.append(
            [method.upper(), re.compile(path_regex), retry_after, count, is_global, via]
        )

    def inject_error(
        self, method: str, path_regex: str, *, status: int, code: int = 0, count: int = 1
    ) -> None:
        """Answer the next ``count`` matching REST calls (``method`` "*" for any) with an error,
        as Discord does in an outage (5xx) or when it refuses (4xx with a JSON error code)."""
        self._injected_errors.append([method.upper(), re.compile(path_regex), status, code, count])

    def clear_errors(self) -> None:
        """End every injected error: Discord answers normally again."""
        self._injected_errors.clear()

    def _maybe_error(self, method: str, path: str) -> web.Response | None:
        for entry in self._injected_errors:
            m, rx, status, code, count = entry
            if count > 0 and m in (method, "*") and rx.search(path):
                entry[4] -= 1
                self.failed_on_purpose.append((method, path, status))
                if status >= 500:
                    return web.Response(status=status, text="upstream connect error")
                body = {"message": f"injected error {code}", "code": code}
                return _json_response(status, body)
        return None

    def _maybe_429(self, method: str, path: str) -> web.Response | None:
        for entry in self._injected_429:
            m, rx, retry_after, count, is_global, via = entry
            if count > 0 and m == method and rx.search(path):
                entry[3] -= 1
                self.rate_limited.append((method, path))
                headers = {
                    "Content-Type": "application/json",
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, round(retry_after))),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": str(retry_after),
                    "X-RateLimit-Bucket": "fake-bucket",
                    "X-RateLimit-Scope": "global" if is_global else "user",
                }
                if is_global:
                    headers["X-RateLimit-Global"] = "true"
                if not via:
                    del headers["Via"]
                body = {
                    "message": "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": is_global,
                }
                return web.Response(status=429, body=json.dumps(body).encode(), headers=headers)
        return None

    async def _route(self, request: web.Request, entry: dict[str, Any]) -> tuple[int, Any]:
        method, path = entry["method"], entry["path"]
        matched_path = False
        for m, rx, spec_path, auth, handler in self._routes:
            mo = rx.match(path)
            if mo is None:
                continue
            matched_path = True
            if m != method:
                continue
            req = _Req(method, path, request.query, request.headers, mo.groupdict())
            try:
                await self._read_body(request, req)
            except _Reply as r:
                self.violation(f"{method} {path}: {r.body['message']}")
                raise
            entry["json"] = req.json
            entry["upload_sizes"] = [len(data) for *_, data in req.files]
            if auth:
                got = request.headers.get("Authorization")
                if got != f"Bot {self.token}":
                    self.violation(f"{method} {path}: bad Authorization header {got!r} (401)")
                    raise _err(401, 0, "401: Unauthorized")
            await self._check_files(req)
            if spec_path is not None and req.json is not None:
                errors = validate_body(spec_path, method, req.json)
                if errors:
                    nested: dict[str, Any] = {}
                    for err_path, text in errors:
                        node = nested
                        for p in err_path:
                            node = node.setdefault(str(p), {})
                        node.setdefault("_errors", []).append(
                            {"code": "SCHEMA_VALIDATION", "message": text}
                        )
                    msgs = "; ".join(t for _, t in errors)
                    self.violation(f"{method} {path}: invalid body per OpenAPI spec: {msgs}")
                    raise _err(400, 50035, "Invalid Form Body", nested)
            return await handler(req)
        if matched_path:
            self.violation(f"{method} {path}: method not allowed (405)")
            return 405, {"message": "405: Method Not Allowed", "code": 0}
        self.violation(f"{method} {path}: unknown route (404)")
        return 404, {"message": "404: Not Found", "code": 0}

    async def _check_files(self, req: _Req) -> None:
        if not req.files:
            return
        total = sum(len(f[3]) for f in req.files)
        big = [f"{f[1] or f[0]} ({len(f[3])} bytes)" for f in req.files]
        if total > self.attachment_size_limit:
            self.violation(
                f"{req.method} {req.path}: upload over attachment_size_limit "
                f"{self.attachment_size_limit}: {', '.join(big)} (413)"
            )
            raise _err(413, 40005, "Request entity too large")
        for name, _fname, _ct, _data in req.files:
            if not re.fullmatch(r"files\[\d+\]", name):
                self.violation(f"{req.method} {req.path}: unexpected multipart field {name!r}")

    # ------------------------------------------------------------------ simple routes

    async def _h_me(self, req: _Req) -> tuple[int, Any]:
        return 200, self.bot_user

    async def _h_app(self, req: _Req) -> tuple[int, Any]:
        return 200, self.application_json()

    async def _h_gateway(self, req: _Req) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    async def _h_gateway_bot(self, req: _Req) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url,
            "shards": max(self.required_shards, 1),
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14400000,
                "max_concurrency": 1,
            },
        }

    async def _h_user(self, req: _Req) -> tuple[int, Any]:
        return 200, self.user_json(int(req.m["user"]))

    def _check_guild(self, req: _Req) -> _Guild:
        guild = self._guilds.get(int(req.m["guild"]))
        if guild is None:
            self.violation(f"{req.method} {req.path}: unknown guild (404 10004)")
            raise _err(404, 10004, "Unknown Guild")
        return guild

    async def _h_guild(self, req: _Req) -> tuple[int, Any]:
        g = self.guild_json(self._check_guild(req).id)
        for k in ("members", "channels", "threads", "presences", "voice_states", "joined_at"):
            g.pop(k, None)
        return 200, g

    async def _h_guild_channels(self, req: _Req) -> tuple[int, Any]:
        guild = self._check_guild(req)
        return 200, [self.channel_json(channel_id=c) for c in guild.channel_ids]

    async def _h_guild_member(self, req: _Req) -> tuple[int, Any]:
        guild = self._check_guild(req)
        uid = int(req.m["user"])
        roles = [guild.bot_role_id] if uid == self.bot_user_id else []
        return 200, self.member_json(uid, roles)

    async def _h_get_channel(self, req: _Req) -> tuple[int, Any]:
        cid = int(req.m["channel"])
        if cid in self._channels:
            return 200, self.channel_json(channel_id=cid)
        if cid in self._dm_channel_users:
            return 200, self.dm_channel_json(self._dm_channel_users[cid])
        self.violation(f"{req.method} {req.path}: unknown channel (404 10003)")
        raise _err(404, 10003, "Unknown Channel")

    async def _h_typing(self, req: _Req) -> tuple[int, Any]:
        await self._h_get_channel(req)
        return 204, None

    async def _h_create_dm(self, req: _Req) -> tuple[int, Any]:
        body = req.json or {}
        uid = int(body.get("recipient_id", 0))
        if uid == self.bot_user_id or uid <= 0:
            self.violation(f"{req.method} {req.path}: bad recipient_id {uid}")
            raise _err(400, 50035, "Invalid Form Body")
        return 200, self.dm_channel_json(uid)

    # ------------------------------------------------------------------ messages

    def _new_message(self, channel_id: int, kind: str, interaction_id: int | None) -> Message:
        msg = Message(
            id=self._snowflake(),
            channel_id=channel_id,
            kind=kind,
            author=self.bot_user,
            guild_id=channel.guild_id if (channel := self._channels.get(channel_id)) else None,
            interaction_id=interaction_id,
            webhook_id=self.application_id if interaction_id is not None else None,
        )
        return msg

    def _apply_payload(
        self, req: _Req, msg: Message, payload: dict[str, Any], *, new: bool
    ) -> None:
        msg.payloads.append(payload)
        if "content" in payload or new:
            msg.content = payload.get("content") or ""
        if "embeds" in payload or new:
            msg.embeds = list(payload.get("embeds") or [])
        if "components" in payload or new:
            msg.components = list(payload.get("components") or [])
        if "allowed_mentions" in payload or new:
            msg.allowed_mentions = payload.get("allowed_mentions")
        if "tts" in payload:
            msg.tts = bool(payload["tts"])
        if payload.get("flags") is not None:
            keep = msg.flags & (FLAG_EPHEMERAL | FLAG_LOADING)
            settable = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_COMPONENTS_V2
            if new:
                settable |= FLAG_EPHEMERAL if msg.kind in ("original", "followup") else 0
            msg.flags = keep | (int(payload["flags"]) & settable)

        files_by_index: dict[int, tuple[str, str | None, bytes]] = {}
        for name, fname, ctype, data in req.files:
            mo = re.fullmatch(r"files\[(\d+)\]", name)
            if mo:
                files_by_index[int(mo.group(1))] = (fname, ctype, data)
        used: set[int] = set()
        new_atts: list[Attachment] = []
        if "attachments" in payload and payload["attachments"] is not None:
            existing = {a.id: a for a in msg.attachments}
            for entry in payload["attachments"]:
                aid = int(entry["id"])
                if aid in existing:
                    new_atts.append(existing[aid])
                elif aid in files_by_index:
                    used.add(aid)
                    fname, _ct, data = files_by_index[aid]
                    new_atts.append(
                        self._store_attachment(
                            msg, entry.get("filename") or fname, data, entry.get("description")
                        )
                    )
                else:
                    self.violation(
                        f"{req.method} {req.path}: attachments[] id {aid} is neither an existing "
                        "attachment of the message nor an uploaded files[n] part"
                    )
                    raise _err(400, 50035, "Invalid Form Body")
        else:
            new_atts = [] if new else list(msg.attachments)
        for idx, (fname, _ct, data) in sorted(files_by_index.items()):
            if idx not in used:
                new_atts.append(self._store_attachment(msg, fname, data, None))
        msg.attachments = new_atts

        names = {a.filename for a in msg.attachments}
        for ref in re.findall(r"attachment://([^\"'\s]+)", json.dumps(msg.embeds)):
            if ref not in names:
                self.violation(
                    f"{req.method} {req.path}: embed references attachment://{ref} but the "
                    f"message has no such attachment (has {sorted(names)})"
                )

        if not new:
            msg.edits += 1
            msg.edited_timestamp = _now_iso()
        elif not (msg.content or msg.embeds or msg.components or msg.attachments) and not (
            payload.get("sticker_ids") or payload.get("poll")
        ):
            self.violation(f"{req.method} {req.path}: empty message (400 50006)")
            raise _err(400, 50006, "Cannot send an empty message")
        self.messages[msg.id] = msg

    def _store_attachment(
        self, msg: Message, filename: str, data: bytes, description: str | None
    ) -> Attachment:
        aid = self._snowflake()
        ctype = mimetypes.guess_type(filename)[0]
        self._hosted[aid] = _Hosted(data, ctype, filename, msg.channel_id)
        return Attachment(
            filename=filename,
            content_type=ctype,
            data=data,
            id=aid,
            description=description,
            url=self._cdn_url(msg.channel_id, aid, filename),
        )

    async def _h_channel_send(self, req: _Req) -> tuple[int, Any]:
        cid = int(req.m["channel"])
        if cid in self._channels:
            if self.deny_channel_send or cid in self.denied_channels:
                self.denied_sends.append((cid, 403))
                raise _err(403, 50013, "Missing Permissions")
            kind = "channel"
        elif cid in self._dm_channel_users:
            if self._dm_channel_users[cid] in self.closed_dms:
                self.denied_sends.append((cid, 403))
                raise _err(403, 50007, "Cannot send messages to this user")
            kind = "dm"
        else:
            self.violation(f"{req.method} {req.path}: unknown channel (404 10003)")
            raise _err(404, 10003, "Unknown Channel")
        payload = req.json or {}
        if payload.get("flags") and int(payload["flags"]) & FLAG_EPHEMERAL:
            self.violation(f"{req.method} {req.path}: ephemeral flag on a channel message")
        msg = self._new_message(cid, kind, None)
        self._apply_payload(req, msg, payload, new=True)
        (self.channel_messages if kind == "channel" else self.dm_messages).append(msg)
        return 200, msg.to_json()

    def _channel_message(self, req: _Req) -> Message:
        cid, mid = int(req.m["channel"]), int(req.m["message"])
        msg = self.messages.get(mid)
        if msg is None or msg.channel_id != cid or msg.deleted or msg.ephemeral:
            self.violation(f"{req.method} {req.path}: unknown message (404 10008)")
            raise _err(404, 10008, "Unknown Message")
        return msg

    async def _h_channel_get(self, req: _Req) -> tuple[int, Any]:
        return 200, self._channel_message(req).to_json()

    async def _h_channel_edit(self, req: _Req) -> tuple[int, Any]:
        msg = self._channel_message(req)
        self._apply_payload(req, msg, req.json or {}, new=False)
        self._note_interaction_message_event(msg, "edit")
        return 200, msg.to_json()

    async def _h_channel_delete(self, req: _Req) -> tuple[int, Any]:
        msg = self._channel_message(req)
        msg.deleted = True
        self._note_interaction_message_event(msg, "delete")
        return 204, None

    def _note_interaction_message_event(self, msg: Message, what: str) -> None:
        if msg.interaction_id is None:
            return
        rec = self._int_by_id.get(msg.interaction_id)
        if rec is not None:
            which = "original" if rec.original is msg else "followup"
            rec.events.append(f"{what}_{which}_via_channel")

    # ------------------------------------------------------------------ commands

    def _check_app(self, req: _Req) -> None:
        if int(req.m["app"]) != self.application_id:
            self.violation(f"{req.method} {req.path}: wrong application id (404 10002)")
            raise _err(404, 10002, "Unknown Application")
        if "guild" in req.m:
            self._check_guild(req)

    def _cmd_store(self, req: _Req) -> list[dict[str, Any]]:
        self._check_app(req)
        if "guild" in req.m:
            return self.guild_commands.setdefault(int(req.m["guild"]), [])
        return self.global_commands

    def _materialise(
        self, req: _Req, body: dict[str, Any], existing: list[dict[str, Any]]
    ) -> dict[str, Any]:
        ctype = body.get("type", 1)
        old = next(
            (c for c in existing if c["name"] == body["name"] and c.get("type", 1) == ctype), None
        )
        cmd: dict[str, Any] = {
            "id": old["id"] if old else str(self._snowflake()),
            "application_id": str(self.application_id),
            "version": str(self._snowflake()),
            "type": ctype,
            "name": body["name"],
            "description": body.get("description") or "",
            "default_member_permissions": body.get("default_member_permissions"),
            "nsfw": body.get("nsfw", False),
        }
        for key in (
            "options",
            "name_localizations",
            "description_localizations",
            "contexts",
            "integration_types",
            "dm_permission",
        ):
            if body.get(key) is not None:
                cmd[key] = body[key]
        cmd.setdefault("contexts", [0, 1, 2])
        cmd.setdefault("integration_types", [0])
        if "guild" in req.m:
            cmd["guild_id"] = req.m["guild"]
        if old is not None and all(
            old.get(k) == cmd.get(k) for k in cmd if k not in ("id", "version")
        ):
            cmd["version"] = old["version"]
        if ctype == 1 and not cmd["description"]:
            self.violation(
                f"{req.method} {req.path}: chat command {body['name']!r} lacks a description"
            )
        return cmd

    def _check_command_names(self, req: _Req, cmd: dict[str, Any]) -> None:
        # Rules Discord enforces that the OpenAPI spec does not encode: chat-input command and
        # option names match ^[-_'\p{L}\p{N}]{1,32}$ and are lowercase; descriptions 1-100.
        def check(name: Any, where: str, chat: bool) -> None:
            ok = isinstance(name, str) and 1 <= len(name) <= 32
            if ok and chat:
                ok = all(c.isalnum() or c in "-_'" for c in name) and name == name.lower()
            if not ok:
                self.violation(f"{req.method} {req.path}: invalid {where} name {name!r} (400)")
                error = {"code": "APPLICATION_COMMAND_INVALID_NAME", "message": f"bad: {name!r}"}
                raise _err(400, 50035, "Invalid Form Body", {"name": {"_errors": [error]}})

        def walk(options: list[dict[str, Any]], path: str) -> None:
            for o in options or []:
                check(o.get("name"), f"option {path}", True)
                if o.get("type") not in (1, 2) and not o.get("description"):
                    self.violation(
                        f"{req.method} {req.path}: option {o.get('name')!r} lacks a description"
                    )
                walk(o.get("options") or [], f"{path}{o.get('name')}.")

        chat = cmd.get("type", 1) == 1
        check(cmd.get("name"), "command", chat)
        if not chat and (cmd.get("description") or cmd.get("options")):
            # User and message commands take neither (Discord: "description must be empty").
            self.violation(
                f"{req.method} {req.path}: context menu {cmd.get('name')!r} "
                "has a description or options (400)"
            )
            raise _err(400, 50035, "Invalid Form Body (context menu description)")
        if chat:
            walk(cmd.get("options") or [], f"{cmd.get('name')}.")

    async def _h_cmd_list(self, req: _Req) -> tuple[int, Any]:
        return 200, list(self._cmd_store(req))

    async def _h_cmd_bulk(self, req: _Req) -> tuple[int, Any]:
        store = self._cmd_store(req)
        body = req.json if isinstance(req.json, list) else []
        seen: set[tuple[str, int]] = set()
        for c in body:
            self._check_command_names(req, c)
            key = (c["name"], c.get("type", 1))
            if key in seen:
                self.violation(f"{req.method} {req.path}: duplicate command {key}")
                raise _err(400, 50035, "Invalid Form Body (duplicate command name)")
            seen.add(key)
        new = [self._materialise(req, c, store) for c in body]
        store[:] = new
        self.command_syncs += 1
        return 200, new

    async def _h_cmd_create(self, req: _Req) -> tuple[int, Any]:
        store = self._cmd_store(req)
        self._check_command_names(req, req.json or {})
        cmd = self._materialise(req, req.json or {}, store)
        existed = any(c["id"] == cmd["id"] for c in store)
        store[:] = [c for c in store if c["id"] != cmd["id"]] + [cmd]
        return (200 if existed else 201), cmd

    def _find_cmd(self, req: _Req) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        store = self._cmd_store(req)
        for c in store:
            if c["id"] == req.m["cmd"]:
                return store, c
        self.violation(f"{req.method} {req.path}: unknown command (404 10063)")
        raise _err(404, 10063, "Unknown application command")

    async def _h_cmd_get(self, req: _Req) -> tuple[int, Any]:
        return 200, self._find_cmd(req)[1]

    async def _h_cmd_patch(self, req: _Req) -> tuple[int, Any]:
        _store, cmd = self._find_cmd(req)
        cmd.update({k: v for k, v in (req.json or {}).items() if k != "id"})
        cmd["version"] = str(self._snowflake())
        return 200, cmd

    async def _h_cmd_delete(self, req: _Req) -> tuple[int, Any]:
        store, cmd = self._find_cmd(req)
        store.remove(cmd)
        return 204, None

    # ------------------------------------------------------------------ interaction callback

    async def _h_callback(self, req: _Req) -> tuple[int, Any]:
        rec = self._int_by_id.get(int(req.m["iid"]))
        where = f"{req.method} {req.path.split('/callback')[0][:40]}…/callback"
        if rec is None or rec.token != req.m["token"]:
            self.violation(f"{where}: unknown interaction id/token (404 10062)")
            raise _err(404, 10062, "Unknown interaction")
        if req.query.get("with_response") not in ("1", "true", "True"):
            self.violation(f"{where}: callback without with_response (discord.py always sets it)")
        body = req.json or {}
        ack = int(body.get("type", 0))
        now = time.monotonic()
        if rec.ack_type is not None:
            rec.events.append(f"double_ack:{ack}")
            self.violation(
                f"{where}: interaction {rec.name!r} acknowledged twice "
                f"(first ack:{rec.ack_type}, then ack:{ack}) (400 40060)"
            )
            self._changed()
            raise _err(400, 40060, "Interaction has already been acknowledged.")
        late = now - rec.sent_at
        if late > self.ack_window:
            rec.events.append(f"late_ack:{ack}")
            self.violation(
                f"{where}: interaction {rec.name!r} acknowledged after {late:.2f}s "
                f"(window {self.ack_window}s) (404 10062)"
            )
            self._changed()
            raise _err(404, 10062, "Unknown interaction")
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(rec.type, set())
        if ack not in allowed:
            self.violation(
                f"{where}: callback type {ack} not valid for interaction type {rec.type} (400)"
            )
            raise _err(400, 50035, "Invalid Form Body (interaction callback type)")
        data = body.get("data") or {}
        rec.callback_data = data
        flags = int(data.get("flags") or 0)
        resource: dict[str, Any] = {"type": ack}
        if ack in (4, 5):
            msg = self._new_message(rec.channel_id, "original", rec.id)
            msg.flags = flags & FLAG_EPHEMERAL
            rec.ephemeral = bool(flags & FLAG_EPHEMERAL)
            if ack == 4:
                self._apply_payload(req, msg, data, new=True)
            else:
                msg.flags |= FLAG_LOADING
                msg.payloads.append(data)
                rec.thinking = True
                self.messages[msg.id] = msg
            rec.original = msg
            resource["message"] = msg.to_json()
        elif ack in (6, 7):
            if rec.message is None and ack == 7:
                self.violation(f"{where}: UPDATE_MESSAGE (7) but the interaction has no message")
                raise _err(400, 50035, "Invalid Form Body (no message to update)")
            if rec.message is not None:
                rec.original = rec.message
                if ack == 7:
                    self._apply_payload(req, rec.message, data, new=False)
                resource["message"] = rec.message.to_json()
        elif ack == 9:
            self._check_modal(where, data)
            rec.modal = data
        elif ack == 8:
            choices = list(data.get("choices") or [])
            # Discord: at most 25 choices, each named 1 to 100 characters.
            bad = [c for c in choices if not 1 <= len(str(c.get("name", ""))) <= 100]
            if len(choices) > 25 or bad:
                self.violation(f"{where}: {len(choices)} choices, {len(bad)} badly named (400)")
                raise _err(400, 50035, "Invalid Form Body (autocomplete choices)")
            rec.choices = choices
        rec.ack_type = ack
        rec.acked_at = now
        rec.events.append(f"ack:{ack}")
        self._changed()
        interaction: dict[str, Any] = {
            "id": str(rec.id),
            "type": rec.type,
            "response_message_loading": ack == 5,
            "response_message_ephemeral": rec.ephemeral,
        }
        if rec.original is not None and ack in (4, 5, 7):
            interaction["response_message_id"] = str(rec.original.id)
        return 200, {"interaction": interaction, "resource": resource}

    def _check_modal(self, where: str, data: dict[str, Any]) -> None:
        """What Discord's docs ask of a modal beyond the spec's shapes: 1 to 5 components, a
        label on every text input in an action row, a prefilled value that fits its bounds."""
        top = data.get("components") or []
        problems = [] if 1 <= len(top) <= 5 else [f"{len(top)} components (1 to 5 allowed)"]
        for row in top:
            for c in row.get("components") or []:
                if c.get("type") == 4 and not c.get("label"):
                    problems.append(f"text input {c.get('custom_id')!r} has no label")
            inputs = [row["component"]] if row.get("type") == 18 else row.get("components") or []
            for c in inputs:
                value = c.get("value")
                too_long = value is not None and len(value) > int(c.get("max_length") or 4000)
                if c.get("type") == 4 and too_long:
                    problems.append(f"text input {c['custom_id']!r}: value over max_length")
        if problems:
            self.violation(f"{where}: invalid modal: {'; '.join(problems)} (400 50035)")
            raise _err(400, 50035, "Invalid Form Body (modal)")

    # ------------------------------------------------------------------ interaction webhooks

    def _webhook_record(self, req: _Req) -> InteractionRecord:
        token = req.m["token"]
        rec = self._int_by_token.get(token)
        short = f"{req.method} /webhooks/{req.m['app']}/<token>" + req.path.split(token, 1)[-1]
        if rec is None:
            self.violation(f"{short}: unknown webhook token (401 50027)")
            raise _err(401, 50027, "Invalid Webhook Token")
        if int(req.m["app"]) != self.application_id:
            self.violation(f"{short}: webhook id is not the application id (404 10015)")
            raise _err(404, 10015, "Unknown Webhook")
        if time.monotonic() >= rec.expires_at:
            self.expired_token_uses.append((req.method, short))
            rec.events.append("expired_token_use")
            self._changed()
            raise _err(401, 50027, "Invalid Webhook Token")
        if rec.ack_type is None:
            self.violation(f"{short}: interaction webhook used before the initial response (404)")
            raise _err(404, 10015, "Unknown Webhook")
        return rec

    def _webhook_target(self, req: _Req, rec: InteractionRecord) -> Message:
        if "message" not in req.m:
            msg = rec.original
        else:
            mid = int(req.m["message"])
            msg = next((m for m in rec.all_messages if m.id == mid), None)
        if msg is not None and msg.deleted_by_a_person:
            raise _err(404, 10008, "Unknown Message")
        if msg is None or msg.deleted:
            self.violation(f"{req.method} {req.path[:60]}…: unknown message (404 10008)")
            raise _err(404, 10008, "Unknown Message")
        return msg

    def _which(self, rec: InteractionRecord, msg: Message) -> str:
        return "original" if msg is rec.original else "followup"

    async def _h_followup(self, req: _Req) -> tuple[int, Any]:
        rec = self._webhook_record(req)
        payload = req.json or {}
        if rec.thinking and rec.original is not None and not rec.original.deleted:
            # Deprecated-but-live Discord behaviour: the first followup after a deferral edits
            # the "thinking" message, keeping the deferral's visibility.
            msg = rec.original
            self._apply_payload(
                req, msg, {k: v for k, v in payload.items() if k != "flags"}, new=False
            )
            msg.edits -= 1  # it is the first real content, not an edit
            msg.edited_timestamp = None
            msg.flags &= ~FLAG_LOADING
            rec.thinking = False
            rec.first_followup_edited_original = True
            rec.followups.append(msg)  # the same object as rec.original
            rec.events.append("followup")
        else:
            msg = self._new_message(rec.channel_id, "followup", rec.id)
            self._apply_payload(req, msg, payload, new=True)
            rec.followups.append(msg)
            rec.events.append("followup")
        self._changed()
        if req.query.get("wait") not in ("1", "true", "True"):
            return 204, None
        return 200, msg.to_json()

    async def _h_wh_get(self, req: _Req) -> tuple[int, Any]:
        rec = self._webhook_record(req)
        return 200, self._webhook_target(req, rec).to_json()

    async def _h_wh_edit(self, req: _Req) -> tuple[int, Any]:
        rec = self._webhook_record(req)
        msg = self._webhook_target(req, rec)
        self._apply_payload(req, msg, req.json or {}, new=False)
        if msg is rec.original and rec.thinking:
            msg.flags &= ~FLAG_LOADING
            rec.thinking = False
        rec.events.append(f"edit_{self._which(rec, msg)}")
        self._changed()
        return 200, msg.to_json()

    async def _h_wh_delete(self, req: _Req) -> tuple[int, Any]:
        rec = self._webhook_record(req)
        msg = self._webhook_target(req, rec)
        msg.deleted = True
        if msg is rec.original:
            rec.thinking = False
        rec.events.append(f"delete_{self._which(rec, msg)}")
        self._changed()
        return 204, None

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        self.gateway_connections += 1
        conn = _GatewayConn(ws, self.gateway_connections, self.gateway_events, self._dispatch_log)
        self._conns.add(conn)
        self._changed()
        q = request.query
        if q.get("v") != "10" or q.get("encoding") != "json":
            self.violation(f"gateway: connected with query {dict(q)} (want v=10, encoding=json)")
        try:
            await conn.send(
                {
                    "op": 10,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                    except ValueError:
                        self.violation("gateway: client sent invalid JSON (4002)")
                        await ws.close(code=4002, message=b"Error while decoding payload.")
                        break
                    await self._gateway_msg(conn, data)
                elif msg.type == WSMsgType.BINARY:
                    self.violation("gateway: client sent a binary frame with encoding=json")
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            self._conns.discard(conn)
            if self._shard_conns.get(conn.shard[0]) is conn:
                del self._shard_conns[conn.shard[0]]
            self._changed()
        return ws

    async def _gateway_msg(self, conn: _GatewayConn, data: dict[str, Any]) -> None:
        op = data.get("op")
        d = data.get("d")
        if op == 1:
            self.heartbeat_log.append(time.monotonic())
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
            return
        if op == 2:
            if conn.identified:
                self.violation("gateway: IDENTIFY sent twice on one connection (4005)")
                await conn.ws.close(code=4005, message=b"Already authenticated.")
                return
            if not isinstance(d, dict) or d.get("token") != self.token:
                self.violation("gateway: IDENTIFY with wrong token (4004)")
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            if not isinstance(d.get("intents"), int):
                self.violation("gateway: IDENTIFY without intents (4013)")
                await conn.ws.close(code=4013, message=b"Invalid intent(s).")
                return
            shard = await self._check_shard(conn, d)
            if shard is None:
                return
            self.identifies.append(d)
            conn.identify = d
            conn.shard = shard
            conn.identified = True
            conn.session_id = uuid.uuid4().hex
            self._last_shard_count = shard[1]
            mine = [g for g in self._guilds if (g >> 22) % shard[1] == shard[0]]
            ready: dict[str, Any] = {
                "v": 10,
                "user": self.bot_user,
                "guilds": [{"id": str(g), "unavailable": True} for g in mine],
                "session_id": conn.session_id,
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "user_settings": {},
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "auth_session_id_hash": "",
            }
            if "shard" in d:  # READY echoes the shard only when IDENTIFY sent one
                ready["shard"] = list(shard)
            await conn.dispatch("READY", ready)
            for guild_id in mine:
                await conn.dispatch("GUILD_CREATE", self.guild_json(guild_id))
            conn.ready = True
            # The newest session of a shard supersedes the older one: it gets the dispatches.
            self._shard_conns[shard[0]] = conn
            self.ready_count += 1
            self._changed()
            return
        if not conn.identified:
            if op == 6:
                # RESUME: sessions are not kept; tell the client to IDENTIFY afresh.
                await conn.send({"op": 9, "d": False, "s": None, "t": None})
                return
            self.violation(f"gateway: op {op} before IDENTIFY (4003)")
            await conn.ws.close(code=4003, message=b"Not authenticated.")
            return
        if op == 6:
            self.violation("gateway: RESUME after IDENTIFY on the same connection")
            return
        if op in (3, 4):  # presence / voice state update
            return
        if op == 8:  # request guild members
            asked = str((d or {}).get("guild_id", self.guild_id))
            guild = self._guilds.get(int(asked)) if asked.isdigit() else None
            if guild is None:
                self.violation(f"gateway: request guild members of unknown guild {asked}")
                return
            if self.shard_of(guild.id) != conn.shard[0]:
                self.violation(
                    f"gateway: request guild members of guild {guild.id} (shard "
                    f"{self.shard_of(guild.id)}) on the connection of shard {conn.shard[0]}"
                )
                return
            await conn.dispatch(
                "GUILD_MEMBERS_CHUNK",
                {
                    "guild_id": str(guild.id),
                    "members": [self.member_json(self.bot_user_id, [guild.bot_role_id])],
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "nonce": (d or {}).get("nonce"),
                },
            )
            return
        self.violation(f"gateway: unknown opcode {op} (4001)")
        await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _check_shard(self, conn: _GatewayConn, d: dict[str, Any]) -> tuple[int, int] | None:
        """The (shard_id, shard_count) of an IDENTIFY, or None after closing it as Discord
        does: 4010 for an invalid shard or a shard_count other than the live sessions' one,
        4011 when fewer shards than ``required_shards``."""
        raw = d.get("shard", [0, 1])
        ok = (
            isinstance(raw, list)
            and len(raw) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in raw)
        )
        if not ok or raw[1] < 1 or not 0 <= raw[0] < raw[1]:
            self.violation(f"gateway: IDENTIFY with invalid shard {raw!r} (4010)")
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return None
        shard = (raw[0], raw[1])
        if shard[1] < self.required_shards:
            self.sharding_refusals.append({"shard": list(shard), "required": self.required_shards})
            self._changed()
            await conn.ws.close(code=4011, message=b"Sharding required.")
            return None
        others = {c.shard[1] for c in self._conns if c is not conn and c.live}
        if others and others != {shard[1]}:
            self.violation(
                f"gateway: IDENTIFY with shard {list(shard)} while live sessions use "
                f"shard_count {sorted(others)} (4010)"
            )
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return None
        return shard

    async def disconnect_gateway(self, code: int = 4000, shard: int | None = None) -> None:
        """Close a shard's gateway connection (the client should reconnect); with
        ``shard=None`` every shard's (unsharded: the one connection)."""
        shards = list(self._shard_conns) if shard is None else [shard]
        for s in shards:
            conn = self._shard_conns.pop(s, None)
            if conn is not None:
                await conn.ws.close(code=code, message=b"fake disconnect")
        self._changed()

    def _require_conn(self, guild_id: int | None) -> tuple[int, _GatewayConn]:
        """The shard and connection that Discord delivers a guild's (None: a DM's) events on.

        When that shard has no READY connection Discord would not deliver the event; a test
        sending one is mistaken (it forgot wait_ready(shards=N), or its guild is on a shard no
        process runs), so this raises AssertionError rather than queueing it: an interaction
        that reaches no bot is never answered, and a queued one would hide the mistake."""
        shard = 0 if guild_id is None else self.shard_of(guild_id)
        conn = self._shard_conns.get(shard)
        if conn is None or not conn.ready or conn.ws.closed:
            if not self.connected_shards:
                raise AssertionError("no bot is connected to the fake gateway (call wait_ready())")
            where = "DMs" if guild_id is None else f"guild {guild_id}"
            raise AssertionError(
                f"{where} belong to shard {shard} of {self.shard_count}, which no bot connection "
                f"runs (connected shards: {self.connected_shards}); Discord would not deliver it"
            )
        return shard, conn

    # ------------------------------------------------------------------ interactions

    async def _send_command(
        self,
        name: str,
        cmd: dict[str, Any],
        data: dict[str, Any],
        **who: Any,
    ) -> InteractionRecord:
        """Send an application command interaction (a slash or a message command), with the
        registered command's server where it was registered in one."""
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        rec, payload = self._new_record(2, name, data=data, **who)
        await self._send_interaction(rec, payload)
        return rec

    def _new_record(
        self,
        itype: int,
        name: str,
        *,
        user_id: int,
        where: _Channel | None,  # None: the bot's DM with the user
        permissions: int,
        roles: list[int],
        app_permissions: int,
        locale: str,
        data: dict[str, Any],
        message: Message | None = None,
    ) -> tuple[InteractionRecord, dict[str, Any]]:
        if where is not None:
            guild = self._guilds[where.guild_id]
            strangers = [r for r in roles if r not in guild.roles and r != guild.bot_role_id]
            if strangers:
                raise AssertionError(
                    f"roles {strangers} are not roles of guild {guild.id} (see add_role)"
                )
        iid = self._snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(app_permissions),
            "attachment_size_limit": self.attachment_size_limit,
            "entitlements": [],
            "entitlement_sku_ids": [],
        }
        if where is not None:
            channel_id = where.id
            payload.update(
                guild_id=str(where.guild_id),
                guild={"id": str(where.guild_id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                channel_id=str(channel_id),
                channel=self.channel_json(permissions, channel_id=channel_id),
                member=self.member_json(user_id, roles, permissions),
                authorizing_integration_owners={"0": str(where.guild_id)},
                context=0,
            )
        else:
            channel = self.dm_channel_json(user_id)
            channel_id = int(channel["id"])
            payload.update(
                channel_id=str(channel_id),
                channel=channel,
                user=self.user_json(user_id),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        if message is not None:
            payload["message"] = message.to_json()
        now = time.monotonic()
        rec = InteractionRecord(
            id=iid,
            token=token,
            user_id=user_id,
            type=itype,
            name=name,
            payload=payload,
            sent_at=now,
            expires_at=now + self.token_lifetime,
            channel_id=channel_id,
            guild_id=None if where is None else where.guild_id,
            message=message,
            _fake=self,
        )
        self.interactions.append(rec)
        self._int_by_id[iid] = rec
        self._int_by_token[token] = rec
        return rec, payload

    async def _send_interaction(self, rec: InteractionRecord, payload: dict[str, Any]) -> None:
        await self._announced()
        rec.shard, conn = self._require_conn(rec.guild_id)
        rec.sent_at = time.monotonic()
        rec.expires_at = rec.sent_at + self.token_lifetime
        rec.events.append("dispatched")
        await conn.dispatch("INTERACTION_CREATE", payload)
        self._changed()

    def find_command(
        self, name: str, *, in_guild: bool = True, guild_id: int | None = None
    ) -> dict[str, Any] | None:
        """The chat command a member sees by ``name``: the guild's own (default: the default
        guild) before the global ones; outside guilds only the global ones."""
        guild = self.guild_id if guild_id is None else guild_id
        cands = list(self.guild_commands.get(guild, [])) if in_guild else []
        cands += self.global_commands
        return next((c for c in cands if c["name"] == name and c.get("type", 1) == 1), None)

    async def invoke(
        self,
        name: str,
        options: Mapping[str, object] | None = None,
        *,
        user_id: int,
        attachments: dict[str, dict[str, Any]] | None = None,
        permissions: int = 0,
        roles: list[int] | None = None,
        app_permissions: int = DEFAULT_APP_PERMISSIONS,
        in_guild: bool = True,
        locale: str = "en-US",
        bypass_default_permissions: bool = False,
        guild_id: int | None = None,
        channel_id: int | None = None,
    ) -> InteractionRecord:
        """Dispatch a slash command (type 2) built from the *registered* command schema.

        ``name`` may be "cmd", "cmd sub" or "cmd group sub".  ``attachments`` maps attachment
        option names to objects from :meth:`host_attachment` (they may also be passed in
        ``options``).  It is used in ``channel_id`` (a text channel or thread of ``guild_id``;
        by default the guild's first channel, and the default guild), or in the user's DM with
        the bot when ``in_guild`` is False.  Raises AssertionError when Discord's client would
        not let a user send it.
        """
        where = self._where(in_guild, guild_id, channel_id)
        parts = name.split()
        guild = None if where is None else where.guild_id
        cmd = self.find_command(parts[0], in_guild=in_guild, guild_id=guild)
        if cmd is None:
            raise AssertionError(
                f"command {parts[0]!r} is not registered "
                f"(global={[c['name'] for c in self.global_commands]}, "
                f"guild={[c['name'] for c in self.guild_commands.get(guild or 0, [])]})"
            )
        context = 0 if in_guild else 1
        if context not in (cmd.get("contexts") or [0, 1, 2]) or (
            not in_guild and cmd.get("dm_permission") is False
        ):
            raise AssertionError(f"command {parts[0]!r} is not available in context {context}")
        dmp = cmd.get("default_member_permissions")
        if in_guild and dmp is not None and not bypass_default_permissions:
            need = int(dmp)
            admin = bool(permissions & Permissions.ADMINISTRATOR)
            if not admin and (need == 0 or (permissions & need) != need):
                raise AssertionError(
                    f"command {parts[0]!r} has default_member_permissions={dmp}; a member with "
                    f"permissions={permissions} cannot see it (pass "
                    "bypass_default_permissions=True to simulate an admin override)"
                )
        all_values: dict[str, object] = dict(options or {})
        for k, v in (attachments or {}).items():
            all_values[k] = v
        resolved: dict[str, dict[str, Any]] = {}
        schema_opts = cmd.get("options") or []
        nested_path: list[str] = []
        for sub in parts[1:]:
            opt = next((o for o in schema_opts if o["name"] == sub and o["type"] in (1, 2)), None)
            if opt is None:
                raise AssertionError(
                    f"{' '.join([parts[0], *nested_path])} has no subcommand {sub!r}"
                )
            nested_path.append(sub)
            schema_opts = opt.get("options") or []
        if any(o["type"] in (1, 2) for o in schema_opts):
            raise AssertionError(f"{name!r} is a group; name a subcommand")
        leaf = self._build_options(schema_opts, all_values, resolved, where, permissions, name)
        # wrap in subcommand / group options
        opts_payload: list[dict[str, Any]] = leaf
        schema_walk = cmd.get("options") or []
        chain = []
        for sub in parts[1:]:
            opt = next(o for o in schema_walk if o["name"] == sub)
            chain.append(opt)
            schema_walk = opt.get("options") or []
        for opt in reversed(chain):
            opts_payload = [{"name": opt["name"], "type": opt["type"], "options": opts_payload}]
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": parts[0],
            "type": 1,
        }
        if opts_payload:
            data["options"] = opts_payload
        if resolved:
            data["resolved"] = resolved
        return await self._send_command(
            name,
            cmd,
            data,
            user_id=user_id,
            where=where,
            permissions=permissions,
            roles=list(roles or []),
            app_permissions=app_permissions,
            locale=locale,
        )

    async def autocomplete(
        self,
        name: str,
        options: Mapping[str, object],
        *,
        focused: str,
        user_id: int,
        permissions: int = 0,
        guild_id: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """A member typing in an option with autocomplete: an APPLICATION_COMMAND_AUTOCOMPLETE
        interaction (type 4) carrying what is filled in so far, as typed (partial, unchecked),
        the option being typed in marked ``"focused": true``. Answered with callback type 8."""
        where = self._where(True, guild_id, None)
        parts = name.split()
        cmd = self.find_command(parts[0], guild_id=guild_id)
        if cmd is None:
            raise AssertionError(f"command {parts[0]!r} is not registered")
        schema = cmd.get("options") or []
        chain = []
        for sub in parts[1:]:
            opt = next((o for o in schema if o["name"] == sub and o["type"] in (1, 2)), None)
            if opt is None:
                raise AssertionError(f"{name!r}: no subcommand {sub!r}")
            chain.append(opt)
            schema = opt.get("options") or []
        by_name = {o["name"]: o for o in schema}
        if focused not in options or not by_name.get(focused, {}).get("autocomplete"):
            raise AssertionError(f"/{name} option {focused!r} has no autocomplete to type in")
        leaf: list[dict[str, Any]] = []
        for oname, value in options.items():
            if oname not in by_name:
                raise AssertionError(f"/{name} has no option {oname!r}")
            entry = {"name": oname, "type": by_name[oname]["type"], "value": value}
            if oname == focused:
                entry["focused"] = True
            leaf.append(entry)
        payload_options = leaf
        for opt in reversed(chain):
            payload_options = [
                {"name": opt["name"], "type": opt["type"], "options": payload_options}
            ]
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": parts[0],
            "type": 1,
            "options": payload_options,
        }
        rec, payload = self._new_record(
            4,
            name,
            user_id=user_id,
            where=where,
            permissions=permissions,
            roles=[],
            app_permissions=DEFAULT_APP_PERMISSIONS,
            locale=locale,
            data=data,
        )
        await self._send_interaction(rec, payload)
        return rec

    async def use_on_message(
        self,
        name: str,
        message: Message,
        *,
        user_id: int,
        permissions: int = 0,
        roles: list[int] | None = None,
        app_permissions: int = DEFAULT_APP_PERMISSIONS,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """A member uses a message command (right-click a message → Apps → `name`): an
        APPLICATION_COMMAND interaction (type 2) whose data has type 3, the message's id as
        `target_id` and the message itself in `resolved.messages`."""
        msg = self.messages.get(message.id)
        if msg is None or msg.deleted:
            raise AssertionError(f"message {message.id} is unknown or deleted")
        if msg.ephemeral:
            raise AssertionError("Discord offers no message commands on ephemeral messages")
        where = self._channels.get(msg.channel_id)
        if where is None:
            raise AssertionError("message commands here are used in guild channels")
        guild = where.guild_id
        cands = list(self.guild_commands.get(guild, [])) + self.global_commands
        cmd = next((c for c in cands if c["name"] == name and c.get("type") == 3), None)
        if cmd is None:
            raise AssertionError(
                f"no message command {name!r} is registered "
                f"(has {[c['name'] for c in cands if c.get('type') == 3]})"
            )
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": 3,
            "target_id": str(msg.id),
            "resolved": {"messages": {str(msg.id): msg.to_json()}},
        }
        return await self._send_command(
            name,
            cmd,
            data,
            user_id=user_id,
            where=where,
            permissions=permissions,
            roles=list(roles or []),
            app_permissions=app_permissions,
            locale=locale,
        )

    def _where(
        self, in_guild: bool, guild_id: int | None, channel_id: int | None
    ) -> _Channel | None:
        """The guild channel an interaction is used in (None: a DM)."""
        if not in_guild:
            if guild_id is not None or channel_id is not None:
                raise AssertionError("guild_id/channel_id name a guild channel, not a DM")
            return None
        guild = self._guild(guild_id)
        if channel_id is None:
            return self._channels[guild.channel_ids[0]]
        channel = self._channels.get(channel_id)
        if channel is None or (guild_id is not None and channel.guild_id != guild_id):
            raise AssertionError(f"channel {channel_id} is not a channel of guild {guild.id}")
        return channel

    def _build_options(
        self,
        schema_opts: list[dict[str, Any]],
        values: dict[str, object],
        resolved: dict[str, dict[str, Any]],
        where: _Channel | None,
        permissions: int,
        cmd_name: str,
    ) -> list[dict[str, Any]]:
        in_guild = where is not None
        by_name = {o["name"]: o for o in schema_opts}
        for k in values:
            if k not in by_name:
                raise AssertionError(
                    f"/{cmd_name} has no option {k!r} (registered: {sorted(by_name)})"
                )
        out: list[dict[str, Any]] = []
        for o in schema_opts:
            oname, otype = o["name"], o["type"]
            if oname not in values:
                if o.get("required"):
                    raise AssertionError(f"/{cmd_name}: required option {oname!r} missing")
                continue
            v = values[oname]
            tname = OPTION_TYPE_NAMES.get(otype, str(otype))

            def bad(why: str, oname: str = oname, tname: str = tname, v: object = v) -> None:
                raise AssertionError(f"/{cmd_name} option {oname!r} ({tname}): {why}: {v!r}")

            if otype == 3:
                if not isinstance(v, str):
                    bad("not a string")
                assert isinstance(v, str)
                if len(v) < o.get("min_length", 0) or len(v) > o.get("max_length", 6000):
                    bad("length out of range")
            elif otype == 4:
                if not isinstance(v, int) or isinstance(v, bool):
                    bad("not an integer")
            elif otype == 10:
                if not isinstance(v, int | float) or isinstance(v, bool):
                    bad("not a number")
            elif otype == 5 and not isinstance(v, bool):
                bad("not a boolean")
            if otype in (4, 10):
                assert isinstance(v, int | float)
                if "min_value" in o and v < o["min_value"]:
                    bad(f"below min_value {o['min_value']}")
                if "max_value" in o and v > o["max_value"]:
                    bad(f"above max_value {o['max_value']}")
            if o.get("choices") and v not in [c["value"] for c in o["choices"]]:
                bad(f"not one of the choices {[c['value'] for c in o['choices']]}")
            value: object = v
            if otype == 11:
                if not isinstance(v, dict) or "id" not in v or "url" not in v:
                    bad("not an attachment object from host_attachment()")
                assert isinstance(v, dict)
                resolved.setdefault("attachments", {})[str(v["id"])] = v
                value = str(v["id"])
            elif otype in (6, 7, 8, 9):
                if isinstance(v, bool) or not isinstance(v, int | str) or not str(v).isdigit():
                    bad("not a snowflake")
                sid = int(str(v))
                value = str(sid)
                roles = [] if where is None else self._roles_json(where.guild_id)
                if otype == 7:
                    # Discord offers only the channels of the guild it is used in.
                    channel = self._channels.get(sid)
                    if where is None or channel is None or channel.guild_id != where.guild_id:
                        bad("not a channel of this guild")
                    assert channel is not None
                    if channel.type not in o.get("channel_types", [channel.type]):
                        bad(f"a channel of type {channel.type}, not {o['channel_types']}")
                    ch = self.channel_json(permissions, channel_id=sid)
                    resolved.setdefault("channels", {})[str(sid)] = ch
                elif otype == 8 or (otype == 9 and any(r["id"] == str(sid) for r in roles)):
                    role = next((r for r in roles if r["id"] == str(sid)), None)
                    if role is None:
                        bad("not a role of this guild")
                    assert role is not None
                    resolved.setdefault("roles", {})[str(sid)] = role
                else:
                    resolved.setdefault("users", {})[str(sid)] = self.user_json(sid)
                    if in_guild:
                        m = self.member_json(sid, [], 0)
                        m.pop("user")
                        resolved.setdefault("members", {})[str(sid)] = m
            out.append({"name": oname, "type": otype, "value": value})
        return out

    async def click(
        self,
        message: Message,
        custom_id: str,
        *,
        user_id: int,
        permissions: int = 0,
        roles: list[int] | None = None,
        values: list[str] | None = None,
        app_permissions: int = DEFAULT_APP_PERMISSIONS,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Dispatch a MESSAGE_COMPONENT (type 3) interaction for a component on a bot message."""
        msg = self.messages.get(message.id)
        if msg is None or msg.deleted:
            raise AssertionError(f"message {message.id} is unknown or deleted")
        comp = next(
            (c for c in _walk_components(msg.components) if c.get("custom_id") == custom_id), None
        )
        if comp is None:
            raise AssertionError(
                f"message {msg.id} has no component with custom_id {custom_id!r} "
                f"(has {msg.custom_ids()})"
            )
        if comp.get("type") not in COMPONENT_INTERACTIVE_TYPES:
            raise AssertionError(
                f"component {custom_id!r} (type {comp.get('type')}) is not clickable"
            )
        if comp.get("disabled"):
            raise AssertionError(f"component {custom_id!r} is disabled")
        where = self._channels.get(msg.channel_id)  # where the message is: a guild or a DM
        in_guild = where is not None
        if msg.ephemeral and msg.interaction_id is not None:
            owner = self._int_by_id[msg.interaction_id].user_id
            if owner != user_id:
                raise AssertionError(f"user {user_id} cannot see ephemeral message {msg.id}")
        if not in_guild and self._dm_channel_users.get(msg.channel_id) != user_id:
            raise AssertionError(f"user {user_id} cannot see DM message {msg.id}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] != 2:
            data["values"] = list(values or [])
        elif values is not None:
            raise AssertionError("values= is only for select menus")
        rec, payload = self._new_record(
            3,
            custom_id,
            user_id=user_id,
            where=where,
            permissions=permissions,
            roles=list(roles or []),
            app_permissions=app_permissions,
            locale=locale,
            data=data,
            message=msg,
        )
        await self._send_interaction(rec, payload)
        return rec

    async def submit_modal(
        self,
        rec: InteractionRecord,
        values: dict[str, str],
        *,
        permissions: int = 0,
        roles: list[int] | None = None,
    ) -> InteractionRecord:
        """Submit the modal that ``rec`` was answered with (ack type 9), as its user: ``values``
        is what the member typed (an empty string clears an input); the others keep the value
        the bot prefilled, as in Discord's client."""
        if rec.modal is None:
            raise AssertionError(f"interaction {rec.name!r} was not answered with a modal")
        inputs = [
            c for c in _walk_components(rec.modal.get("components", [])) if c.get("type") == 4
        ]
        known = {c["custom_id"] for c in inputs}
        for k in values:
            if k not in known:
                raise AssertionError(f"modal has no text input {k!r} (has {sorted(known)})")
        # An input the member does not touch is sent with what the bot prefilled.
        values = {c["custom_id"]: values.get(c["custom_id"], c.get("value") or "") for c in inputs}
        comps: list[dict[str, Any]] = []
        for top in rec.modal.get("components", []):
            if top.get("type") == 1:
                row = [
                    {
                        "type": 4,
                        "custom_id": c["custom_id"],
                        "value": values.get(c["custom_id"], ""),
                    }
                    for c in top.get("components", [])
                    if c.get("type") == 4
                ]
                comps.append({"type": 1, "components": row})
            elif top.get("type") == 18 and top.get("component", {}).get("type") == 4:
                c = top["component"]
                comps.append(
                    {
                        "type": 18,
                        "id": top.get("id", 0),
                        "component": {
                            "type": 4,
                            "id": c.get("id", 0),
                            "custom_id": c["custom_id"],
                            "value": values.get(c["custom_id"], ""),
                        },
                    }
                )
        for c in inputs:
            value = values.get(c["custom_id"], "")
            if c.get("required", True) and not value:
                raise AssertionError(f"modal text input {c['custom_id']!r} is required")
            # Discord's client lets a member send only what fits the input's bounds.
            low, high = int(c.get("min_length") or 0), int(c.get("max_length") or 4000)
            if value and not low <= len(value) <= high:
                raise AssertionError(
                    f"modal text input {c['custom_id']!r} takes {low} to {high} characters"
                )
        data = {"custom_id": rec.modal["custom_id"], "components": comps}
        new, payload = self._new_record(
            5,
            rec.modal["custom_id"],
            user_id=rec.user_id,
            where=self._channels.get(rec.channel_id) if rec.guild_id is not None else None,
            permissions=permissions,
            roles=list(roles or []),
            app_permissions=DEFAULT_APP_PERMISSIONS,
            locale=rec.payload["locale"],  # the same member's client
            data=data,
            message=rec.message,
        )
        await self._send_interaction(new, payload)
        return new

    def delete_by_a_person(self, message: Message) -> None:
        """A member or moderator deletes one of the bot's messages (the bot is not told)."""
        message.deleted = message.deleted_by_a_person = True
        self._changed()

    def expire_token(self, rec: InteractionRecord) -> None:
        """Make the interaction's token expired now (webhook routes answer 401 50027)."""
        rec.expires_at = time.monotonic()
        rec.events.append("token_expired")
        self._changed()

    def assert_no_violations(self) -> None:
        assert self.violations == [], "fake Discord saw violations:\n" + "\n".join(self.violations)
