"""Self-test of tests/fake_discord.py against the real discord.py client, in-process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import aiohttp
import pytest
import yarl

with warnings.catch_warnings():
    # discord.py imports the stdlib audioop, deprecated in 3.11; filterwarnings=error would
    # otherwise fail collection.
    warnings.simplefilter("ignore", DeprecationWarning)
    import discord
    import discord.gateway
    import discord.http
    from discord import app_commands
    from discord.ext import commands

from tests.fake_discord import FakeDiscord, InteractionRecord, validate_body

USER = 111_222_333_444_555_666
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Scenario:
    """What the /ping handler should do, and what it observed (shared with the test)."""

    def __init__(self) -> None:
        self.mode = "normal"
        self.errors: list[BaseException] = []
        self.release = asyncio.Event()
        self.clicks: list[int] = []
        self.big_size = 0


class PingView(discord.ui.View):
    def __init__(self, sc: Scenario) -> None:
        super().__init__(timeout=60)
        self.sc = sc

    @discord.ui.button(label="Again", custom_id="again")
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.sc.clicks.append(interaction.user.id)
        await interaction.response.send_message("clicked", ephemeral=True)


class PingModal(discord.ui.Modal, title="Name?"):
    name: discord.ui.TextInput[PingModal] = discord.ui.TextInput(label="Name", custom_id="name")

    def __init__(self, sc: Scenario) -> None:
        super().__init__(custom_id="ping-modal")
        self.sc = sc

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"hi {self.name.value}", ephemeral=True)


class QuickBot(commands.Bot):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every non-initial IDENTIFY (identify rate limit);
        # skip that in the self-test.
        return None


def build_bot(sc: Scenario) -> commands.Bot:
    bot = QuickBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)

    @bot.tree.command(name="ping", description="Ping with a picture")
    @app_commands.describe(text="Some text", image="A picture")
    async def ping(
        interaction: discord.Interaction, text: str, image: discord.Attachment | None = None
    ) -> None:
        try:
            if sc.mode == "normal":
                await interaction.response.defer(thinking=True)
                assert image is not None
                data = await image.read()
                await interaction.followup.send(
                    f"pong {text}",
                    file=discord.File(io.BytesIO(data), filename="echo.png"),
                    view=PingView(sc),
                )
            elif sc.mode == "late":
                await asyncio.sleep(0.6)
                await interaction.response.defer()
            elif sc.mode == "expire":
                await interaction.response.defer(ephemeral=True)
                await sc.release.wait()
                await interaction.followup.send("too late")
            elif sc.mode == "big":
                await interaction.response.defer()
                blob = b"\0" * sc.big_size
                await interaction.followup.send(
                    "big", file=discord.File(io.BytesIO(blob), filename="big.bin")
                )
            elif sc.mode == "message":
                await interaction.response.send_message(
                    f"hello <@{interaction.user.id}>",
                    file=discord.File(io.BytesIO(PNG), filename="card.png"),
                )
                await interaction.edit_original_response(content="edited")
                orig = await interaction.original_response()
                assert orig.content == "edited" and orig.attachments[0].filename == "card.png"
                fu = await interaction.followup.send("f1", ephemeral=True, wait=True)
                await fu.edit(content="f1!")
                await interaction.delete_original_response()
            elif sc.mode == "modal":
                await interaction.response.send_modal(PingModal(sc))
        except Exception as e:
            sc.errors.append(e)

    return bot


@pytest.fixture
def point_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeDiscord], None]:
    def _point(fake: FakeDiscord) -> None:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url)
        )

    return _point


@contextlib.asynccontextmanager
async def running_bot(fake: FakeDiscord, sc: Scenario) -> AsyncIterator[commands.Bot]:
    bot = build_bot(sc)
    task = asyncio.create_task(bot.start(fake.token))
    try:
        done, _ = await asyncio.wait(
            [task, asyncio.ensure_future(fake.wait_ready(timeout=10))],
            return_when=asyncio.FIRST_COMPLETED,
        )
        if task in done:
            task.result()  # re-raise a startup failure
        yield bot
    finally:
        await bot.close()
        await task


@contextlib.asynccontextmanager
async def session(fake: FakeDiscord, sc: Scenario, *, sync: bool = True) -> AsyncIterator[Any]:
    async with running_bot(fake, sc) as bot:
        if sync:
            await bot.wait_until_ready()
            await bot.tree.sync()
        yield bot


async def raw(
    fake: FakeDiscord, method: str, path: str, *, auth: bool = True, **kw: Any
) -> tuple[int, Any, str]:
    headers = {"Authorization": f"Bot {fake.token}"} if auth else {}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, fake.api_base + path, headers=headers, **kw) as r,
    ):
        return r.status, await r.json(content_type=None), r.headers["Content-Type"]


def _ping_opts(fake: FakeDiscord, text: str = "hi") -> dict[str, Any]:
    att = fake.host_attachment(PNG, "in.png", "image/png", width=8, height=8)
    return {"text": text, "image": att}


# ---------------------------------------------------------------------------------------------


async def test_full_flow_sync_invoke_defer_cdn_followup_click(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        sc = Scenario()
        async with session(fake, sc):
            assert fake.command_syncs == 1
            (cmd,) = fake.global_commands
            assert cmd["name"] == "ping"
            assert [o["type"] for o in cmd["options"]] == [3, 11]
            assert ("GET", "/users/@me") in fake.requests
            assert ("GET", "/oauth2/applications/@me") in fake.requests
            assert fake.heartbeat_log, "discord.py heartbeats right after HELLO"

            opts = _ping_opts(fake)
            rec = await fake.invoke("ping", opts, user_id=USER)
            await rec.wait_for(lambda r: r.original is not None and not r.original.loading)
            assert rec.ack_type == 5 and rec.ack_latency is not None
            assert rec.ack_latency < fake.ack_window
            assert rec.events[:3] == ["dispatched", "ack:5", "followup"]
            # the first followup after a deferral replaced the thinking message
            orig = rec.original
            assert orig is not None
            assert rec.first_followup_edited_original and rec.followups == [orig]
            assert rec.all_messages == [orig]
            assert orig.content == "pong hi" and not orig.ephemeral
            assert [a.filename for a in orig.attachments] == ["echo.png"]
            assert orig.attachments[0].data == PNG
            assert fake.cdn_downloads == [opts["image"]["id"]]
            assert orig.custom_ids() == ["again"]

            click = await fake.click(orig, "again", user_id=USER + 1)
            await click.wait_for(lambda r: r.ack_type is not None)
            assert click.ack_type == 4 and click.ephemeral
            assert click.original is not None and click.original.content == "clicked"
            assert sc.clicks == [USER + 1]

            sc.mode = "message"
            rec2 = await fake.invoke("ping", {"text": "x"}, user_id=USER)
            await rec2.wait_for(lambda r: "delete_original" in r.events)
            assert rec2.events == [
                "dispatched",
                "ack:4",
                "edit_original",
                "followup",
                "edit_followup",
                "delete_original",
            ]
            assert rec2.original is not None and rec2.original.deleted
            assert rec2.original.content == "edited" and rec2.original.edits == 1
            assert rec2.original.attachments[0].data == PNG  # multipart callback
            (fu,) = rec2.followups
            assert fu.ephemeral and fu.content == "f1!" and fu.edits == 1

            sc.mode = "modal"
            rec3 = await fake.invoke("ping", {"text": "x"}, user_id=USER)
            await rec3.wait_for(lambda r: r.ack_type == 9)
            assert rec3.modal is not None and rec3.modal["custom_id"] == "ping-modal"
            sub = await fake.submit_modal(rec3, {"name": "Bob"})
            await sub.wait_for(lambda r: r.original is not None)
            assert sub.original is not None and sub.original.content == "hi Bob"

            sc.mode = "message"
            dm = await fake.invoke("ping", {"text": "x"}, user_id=USER, in_guild=False)
            await dm.wait_for(lambda r: "delete_original" in r.events)
            assert dm.payload["context"] == 1 and dm.channel_id == fake.dm_channels[USER]
        assert sc.errors == []
        fake.assert_no_violations()


async def test_invoke_checks_registered_schema(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        async with session(fake, Scenario()):
            with pytest.raises(AssertionError, match="not registered"):
                await fake.invoke("nope", user_id=USER)
            with pytest.raises(AssertionError, match="no option"):
                await fake.invoke("ping", {"text": "a", "bogus": 1}, user_id=USER)
            with pytest.raises(AssertionError, match="not a string"):
                await fake.invoke("ping", {"text": 5}, user_id=USER)
            with pytest.raises(AssertionError, match="required option"):
                await fake.invoke("ping", {}, user_id=USER)
        fake.assert_no_violations()


async def test_late_ack_is_10062(point_at: Any) -> None:
    async with FakeDiscord(ack_window=0.3) as fake:
        point_at(fake)
        sc = Scenario()
        sc.mode = "late"
        async with session(fake, sc):
            rec = await fake.invoke("ping", {"text": "x"}, user_id=USER)
            await fake.wait_until(lambda: bool(sc.errors))
        assert rec.ack_type is None and "late_ack:5" in rec.events
        (err,) = sc.errors
        assert isinstance(err, discord.NotFound) and err.code == 10062
        assert len(fake.violations) == 1 and "10062" in fake.violations[0]


async def test_double_ack_is_40060(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        sc = Scenario()
        async with session(fake, sc):
            rec = await fake.invoke("ping", _ping_opts(fake), user_id=USER)
            await rec.wait_for(lambda r: r.ack_type == 5)
            status, body, ctype = await raw(
                fake,
                "POST",
                f"/interactions/{rec.id}/{rec.token}/callback?with_response=1",
                auth=False,
                json={"type": 5},
            )
            assert (status, body["code"], ctype) == (400, 40060, "application/json")
            await rec.wait_for(lambda r: "followup" in r.events)
        assert "double_ack:5" in rec.events
        assert len(fake.violations) == 1 and "40060" in fake.violations[0]


async def test_expired_token_is_401_50027_not_a_violation(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        sc = Scenario()
        sc.mode = "expire"
        async with session(fake, sc):
            rec = await fake.invoke("ping", {"text": "x"}, user_id=USER)
            await rec.wait_for(lambda r: r.ack_type == 5)
            assert rec.ephemeral and rec.original is not None and rec.original.ephemeral
            fake.expire_token(rec)
            sc.release.set()
            await fake.wait_until(lambda: bool(sc.errors))
        (err,) = sc.errors
        assert type(err) is discord.HTTPException
        assert (err.status, err.code) == (401, 50027)
        assert len(fake.expired_token_uses) == 1
        fake.assert_no_violations()


async def test_upload_over_limit_is_413(point_at: Any) -> None:
    async with FakeDiscord(attachment_size_limit=32 * 1024) as fake:
        point_at(fake)
        sc = Scenario()
        sc.mode = "big"
        sc.big_size = 32 * 1024 + 1
        async with session(fake, sc):
            rec = await fake.invoke("ping", {"text": "x"}, user_id=USER)
            await fake.wait_until(lambda: bool(sc.errors))
            assert rec.payload["attachment_size_limit"] == 32 * 1024
        (err,) = sc.errors
        assert isinstance(err, discord.HTTPException)
        assert (err.status, err.code) == (413, 40005)
        assert len(fake.violations) == 1 and "413" in fake.violations[0]


async def test_rest_strictness_schema_auth_unknown_route() -> None:
    async with FakeDiscord() as fake:
        cid = fake.channel_id
        status, body, ctype = await raw(fake, "GET", "/users/@me")
        assert (status, ctype, body["id"]) == (200, "application/json", str(fake.bot_user_id))

        status, body, _ = await raw(fake, "POST", f"/channels/{cid}/messages", json={"content": 5})
        assert (status, body["code"]) == (400, 50035)
        assert "content" in fake.violations[-1] and "OpenAPI" in fake.violations[-1]

        status, body, _ = await raw(fake, "GET", "/users/@me", auth=False)
        assert (status, body) == (401, {"message": "401: Unauthorized", "code": 0})

        status, body, _ = await raw(fake, "GET", "/guilds/1/bans")
        assert (status, body) == (404, {"message": "404: Not Found", "code": 0})
        assert "GET /guilds/1/bans" in fake.violations[-1]
        assert len(fake.violations) == 3

        # ints where the spec says snowflake strings are accepted (discord.py sends them)
        assert (
            validate_body(
                "/channels/{channel_id}/messages",
                "post",
                {"content": "a", "allowed_mentions": {"users": [USER]}, "attachments": [{"id": 0}]},
            )
            == []
        )

        app, gid = fake.application_id, fake.guild_id
        cmds = [{"name": "g", "description": "guild cmd", "type": 1}]
        path = f"/applications/{app}/guilds/{gid}/commands"
        status, body, _ = await raw(fake, "PUT", path, json=cmds)
        assert status == 200 and body[0]["guild_id"] == str(gid) and body[0]["id"]
        assert fake.guild_commands[gid][0]["name"] == "g"
        status, body, _ = await raw(
            fake, "PUT", path, json=[{"name": "Bad Name", "description": "d"}]
        )
        assert (status, body["code"]) == (400, 50035) and len(fake.violations) == 4
        status, body, _ = await raw(fake, "GET", path)
        assert [c["name"] for c in body] == ["g"]

        fake.deny_channel_send = True
        status, body, _ = await raw(
            fake, "POST", f"/channels/{cid}/messages", json={"content": "a"}
        )
        assert (status, body["code"]) == (403, 50013)
        assert len(fake.violations) == 4


async def test_channel_and_dm_sends_and_reconnect_keeps_state(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        sc = Scenario()
        async with session(fake, sc) as bot:
            channel = bot.get_channel(fake.channel_id)
            assert isinstance(channel, discord.TextChannel)
            msg = await channel.send(
                f"<@{USER}> done",
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(USER)]),
            )
            await msg.edit(content=f"<@{USER}> done!")
            fake.inject_429("POST", r"^/users/@me/channels$")
            user = await bot.fetch_user(USER)
            await user.send("in your DMs", file=discord.File(io.BytesIO(PNG), filename="a.png"))
            fake.deny_channel_send = True
            with pytest.raises(discord.Forbidden) as ei:
                await channel.send("nope")
            assert ei.value.code == 50013
            fake.deny_channel_send = False
        (cm,) = fake.channel_messages
        assert cm.content == f"<@{USER}> done!" and cm.edits == 1 and cm.pinged_user_ids == [USER]
        assert fake.rate_limited == [("POST", "/users/@me/channels")]
        assert fake.requests.count(("POST", "/users/@me/channels")) == 2  # retried after 429
        (dm,) = fake.dm_messages
        assert dm.attachments[0].data == PNG and fake.dm_channels[USER] == dm.channel_id
        assert fake.connected_shards == []  # bot closed its gateway connection

        # A new client process (here: a new Client) connects; the commands are kept.
        async with session(fake, sc, sync=False):
            assert fake.gateway_connections == 2 and len(fake.identifies) == 2
            assert fake.command_syncs == 1 and fake.global_commands[0]["name"] == "ping"
            rec = await fake.invoke("ping", _ping_opts(fake, "again"), user_id=USER)
            await rec.wait_for(
                lambda r: r.original is not None and r.original.content == "pong again"
            )
        assert sc.errors == []
        fake.assert_no_violations()


async def test_gateway_drop_resume_is_invalidated_and_client_reidentifies(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        sc = Scenario()
        async with session(fake, sc):
            await fake.disconnect_gateway(4000)
            await fake.wait_until(lambda: len(fake.identifies) == 2, timeout=10)
            await fake.wait_ready()
            rec = await fake.invoke("ping", _ping_opts(fake), user_id=USER)
            await rec.wait_for(lambda r: r.original is not None and not r.original.loading)
        assert fake.gateway_connections == 3  # drop -> RESUME (invalidated) -> IDENTIFY
        assert sc.errors == []
        fake.assert_no_violations()


async def test_wait_for_timeout_is_a_clear_assertion() -> None:
    async with FakeDiscord() as fake:
        rec = InteractionRecord(
            id=1,
            token="t",
            user_id=USER,
            type=2,
            name="ping",
            payload={},
            sent_at=0,
            expires_at=0,
            channel_id=fake.channel_id,
            guild_id=fake.guild_id,
            _fake=fake,
        )
        with pytest.raises(AssertionError, match="events="):
            await rec.wait_for(lambda r: r.ack_type is not None, timeout=0.05)


# --- several guilds, several channels -----------------------------------------------------------


class WhereView(discord.ui.View):
    def __init__(self, seen: list[dict[str, Any]]) -> None:
        super().__init__(timeout=60)
        self.seen = seen

    @discord.ui.button(label="Here?", custom_id="here")
    async def here(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.seen.append({"guild": interaction.guild_id, "channel": interaction.channel_id})
        await interaction.response.send_message("clicked", ephemeral=True)


def build_where_bot(seen: list[dict[str, Any]]) -> commands.Bot:
    """A bot whose /where tells where it was used and what its options resolved to."""
    bot = QuickBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
    add_where_command(bot.tree, seen)
    return bot


def add_where_command(tree: app_commands.CommandTree[Any], seen: list[dict[str, Any]]) -> None:
    @tree.command(name="where", description="Where was this used")
    async def where(
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        role: discord.Role | None = None,
    ) -> None:
        member = interaction.user
        seen.append(
            {
                "guild": interaction.guild_id,
                "channel": interaction.channel_id,
                "kind": type(interaction.channel).__name__,
                "parent": getattr(interaction.channel, "parent_id", None),
                "app_permissions": interaction.app_permissions.value,
                "roles": [r.id for r in getattr(member, "roles", [])[1:]],  # not @everyone
                "option_channel": channel and (channel.id, channel.guild.id, channel.name),
                "option_role": role and (role.id, role.guild.id, role.name),
            }
        )
        await interaction.response.send_message("here", ephemeral=True)


@contextlib.asynccontextmanager
async def where_session(fake: FakeDiscord, seen: list[dict[str, Any]]) -> AsyncIterator[Any]:
    bot = build_where_bot(seen)
    task = asyncio.create_task(bot.start(fake.token))
    try:
        await fake.wait_ready(timeout=10)
        await bot.wait_until_ready()
        await bot.tree.sync()
        yield bot
    finally:
        await bot.close()
        await task


async def test_several_guilds_arrive_as_discord_sends_them(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        other = fake.add_guild("Other")
        (first,) = fake.channels_of(other)
        second = fake.add_channel(other, name="art")
        extra = fake.add_channel(name="more")  # in the default guild
        thread = fake.add_thread(second, name="ideas")
        role = fake.add_role("Artists", guild_id=other)
        async with where_session(fake, []) as bot:
            # READY lists every guild as unavailable, then comes one GUILD_CREATE each
            assert [t for t, _ in fake.gateway_events] == ["READY", "GUILD_CREATE", "GUILD_CREATE"]
            ready = fake.gateway_events[0][1]
            assert ready["guilds"] == [
                {"id": str(g), "unavailable": True} for g in (fake.guild_id, other)
            ]
            assert [d["id"] for _, d in fake.gateway_events[1:]] == [str(fake.guild_id), str(other)]
            assert fake.guild_ids == [fake.guild_id, other]
            assert {g.id for g in bot.guilds} == {fake.guild_id, other}
            guild = bot.get_guild(other)
            assert guild is not None and guild.name == "Other"
            assert [c.id for c in guild.text_channels] == [first, second]
            assert [c.name for c in guild.text_channels] == ["general", "art"]
            home = bot.get_guild(fake.guild_id)
            assert home is not None
            assert [c.id for c in home.text_channels] == [fake.channel_id, extra]
            (t,) = guild.threads
            assert (t.id, t.parent_id, t.name) == (thread, second, "ideas")
            artists = guild.get_role(role)
            assert artists is not None and artists.name == "Artists"
            assert guild.me is not None and guild.me.top_role.managed  # its own bot role
            assert fake.guild_of(thread) == other and fake.guild_of(extra) == fake.guild_id
        fake.assert_no_violations()


async def test_interactions_happen_where_they_are_used(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        other = fake.add_guild("Other")
        art = fake.add_channel(other, name="art")
        thread = fake.add_thread(art, name="ideas")
        role = fake.add_role("Artists", guild_id=other)
        home_role = fake.add_role("Home")
        seen: list[dict[str, Any]] = []
        async with where_session(fake, seen):

            async def where(**kw: Any) -> dict[str, Any]:
                options = kw.pop("options", {})
                rec = await fake.invoke("where", options, user_id=USER, **kw)
                await rec.wait_for(lambda r: r.ack_type is not None)
                return seen[-1]

            assert (await where())["guild"] == fake.guild_id  # the default guild and channel
            assert (await where())["channel"] == fake.channel_id
            got = await where(guild_id=other)
            assert (got["guild"], got["channel"]) == (other, fake.channels_of(other)[0])
            got = await where(channel_id=art, roles=[role], app_permissions=1024)
            assert (got["guild"], got["channel"], got["kind"]) == (other, art, "TextChannel")
            assert got["roles"] == [role] and got["app_permissions"] == 1024
            got = await where(channel_id=thread)
            assert (got["guild"], got["kind"], got["parent"]) == (other, "Thread", art)
            got = await where(channel_id=art, options={"channel": art, "role": role})
            assert got["option_channel"] == (art, other, "art")
            assert got["option_role"] == (role, other, "Artists")
            got = await where(options={"channel": fake.channel_id, "role": home_role})
            assert got["option_channel"] == (fake.channel_id, fake.guild_id, "general")
            assert got["option_role"] == (home_role, fake.guild_id, "Home")

            # What Discord's client would never send
            for kw, why in (
                ({"guild_id": other, "channel_id": fake.channel_id}, "not a channel of guild"),
                ({"channel_id": 12345}, "not a channel of guild"),
                ({"guild_id": 12345}, "unknown"),
                ({"options": {"channel": art}}, "not a channel of this guild"),
                ({"options": {"channel": thread}, "channel_id": art}, "type 11"),
                ({"options": {"role": role}}, "not a role of this guild"),
                ({"roles": [role]}, "not roles of guild"),
                ({"in_guild": False, "guild_id": other}, "not a DM"),
            ):
                options = cast(dict[str, object], kw.pop("options", {}))
                with pytest.raises(AssertionError, match=why):
                    await fake.invoke("where", options, user_id=USER, **kw)
        fake.assert_no_violations()


async def test_sends_and_clicks_in_any_channel_of_any_guild(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        other = fake.add_guild("Other")
        art = fake.add_channel(other, name="art")
        thread = fake.add_thread(art)
        seen: list[dict[str, Any]] = []
        async with where_session(fake, seen) as bot:
            for cid in (art, thread, fake.channel_id):
                channel = bot.get_channel(cid)
                assert isinstance(channel, discord.TextChannel | discord.Thread)
                await channel.send(f"in {cid}", view=WhereView(seen))
            assert [m.channel_id for m in fake.channel_messages] == [art, thread, fake.channel_id]
            assert [m.guild_id for m in fake.channel_messages] == [other, other, fake.guild_id]
            (in_art,) = fake.messages_in(art)
            assert in_art.content == f"in {art}"
            click = await fake.click(in_art, "here", user_id=USER)
            await click.wait_for(lambda r: r.ack_type is not None)
            assert seen[-1] == {"guild": other, "channel": art}
            assert click.guild_id == other and click.payload["channel"]["id"] == str(art)

            fake.denied_channels.add(art)
            denied, allowed = bot.get_channel(art), bot.get_channel(thread)
            assert isinstance(denied, discord.TextChannel) and isinstance(allowed, discord.Thread)
            with pytest.raises(discord.Forbidden):
                await denied.send("nope")
            await allowed.send("still fine")
        assert fake.denied_sends == [(art, 403)]
        fake.assert_no_violations()

        status, body, _ = await raw(fake, "GET", f"/guilds/{other}/channels")
        assert status == 200 and [c["id"] for c in body] == [
            str(c) for c in fake.channels_of(other)
        ]
        status, body, _ = await raw(fake, "GET", f"/channels/{thread}")
        assert (status, body["type"], body["parent_id"]) == (200, 11, str(art))
        status, body, _ = await raw(fake, "GET", "/guilds/42/channels")
        assert (status, body["code"]) == (404, 10004)
        status, body, _ = await raw(fake, "POST", "/channels/42/messages", json={"content": "a"})
        assert (status, body["code"]) == (404, 10003)
        assert len(fake.violations) == 2


async def test_guilds_channels_and_roles_added_while_connected_reach_the_bot(
    point_at: Any,
) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        seen: list[dict[str, Any]] = []
        async with where_session(fake, seen) as bot:
            joined = fake.add_guild("Joined later")
            art = fake.add_channel(joined, name="art")
            role = fake.add_role("Late", guild_id=joined)
            rec = await fake.invoke(
                "where", {"channel": art, "role": role}, user_id=USER, channel_id=art
            )
            await rec.wait_for(lambda r: r.ack_type is not None)
            assert seen[-1]["guild"] == joined and seen[-1]["kind"] == "TextChannel"
            assert seen[-1]["option_channel"] == (art, joined, "art")
            assert seen[-1]["option_role"] == (role, joined, "Late")
            events = [t for t, _ in fake.gateway_events]
            assert events[-4:] == [
                "GUILD_CREATE",
                "CHANNEL_CREATE",
                "GUILD_ROLE_CREATE",
                "INTERACTION_CREATE",
            ]
            guild = bot.get_guild(joined)
            assert guild is not None and [c.id for c in guild.text_channels] == fake.channels_of(
                joined
            )
        fake.assert_no_violations()


# --- gateway sharding ---------------------------------------------------------------------------


BotT = TypeVar("BotT", commands.Bot, commands.AutoShardedBot)


class QuickShardedBot(commands.AutoShardedBot):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # no 5 s wait between the shards' IDENTIFYs in the self-test


@contextlib.asynccontextmanager
async def started(fake: FakeDiscord, bot: BotT) -> AsyncIterator[BotT]:
    """Run ``bot`` (one bot process) until it is ready (every shard it runs got its guilds)."""
    task = asyncio.create_task(bot.start(fake.token))
    try:
        await fake.wait_until(lambda: task.done() or bot.is_ready(), timeout=10)
        if task.done():
            task.result()  # re-raise a startup failure
        yield bot
    finally:
        await bot.close()
        with contextlib.suppress(discord.ConnectionClosed):
            await task


def sharded_where_bot(seen: list[dict[str, Any]], **kw: Any) -> commands.AutoShardedBot:
    """The /where bot as one process of a sharded bot (``shard_ids``, ``shard_count``)."""
    bot = QuickShardedBot(
        command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05, **kw
    )
    add_where_command(bot.tree, seen)
    return bot


async def raw_identify(fake: FakeDiscord, shard: object) -> int | None:
    """IDENTIFY on a bare websocket with ``shard``; the close code the fake answers with."""
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(fake.gateway_url + "?v=10&encoding=json") as ws,
    ):
        hello = await ws.receive_json()
        assert hello["op"] == 10
        await ws.send_json(
            {"op": 2, "d": {"token": fake.token, "intents": 1, "properties": {}, "shard": shard}}
        )
        msg = await ws.receive(timeout=5)
        return ws.close_code if msg.type is aiohttp.WSMsgType.CLOSE else None


async def test_two_processes_each_get_only_their_shards_guilds_and_interactions(
    point_at: Any,
) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        a = fake.add_guild("A", shard=0, shard_count=2)
        b1 = fake.add_guild("B1", shard=1, shard_count=2)
        b2 = fake.add_guild("B2", shard=1, shard_count=2)
        assert fake.shard_count == 1 and fake.shard_of(b1) == 0  # unsharded: all on shard 0
        seen0: list[dict[str, Any]] = []
        seen1: list[dict[str, Any]] = []
        async with (
            started(fake, sharded_where_bot(seen0, shard_ids=[0], shard_count=2)) as p0,
            started(fake, sharded_where_bot(seen1, shard_ids=[1], shard_count=2)) as p1,
        ):
            await fake.wait_ready(shards=2)
            await p0.tree.sync()
            assert fake.connected_shards == [0, 1] and fake.shard_count == 2
            assert [fake.shard_of(g) for g in (fake.guild_id, a, b1, b2)] == [0, 0, 1, 1]
            assert {g.id for g in p0.guilds} == {fake.guild_id, a}
            assert {g.id for g in p1.guilds} == {b1, b2}
            for shard, mine in ((0, [fake.guild_id, a]), (1, [b1, b2])):
                events = fake.events_on_shard(shard)
                assert [t for t, _ in events[:3]] == ["READY", "GUILD_CREATE", "GUILD_CREATE"]
                ready = events[0][1]
                assert ready["shard"] == [shard, 2]
                assert ready["guilds"] == [{"id": str(g), "unavailable": True} for g in mine]
                assert [d["id"] for _, d in events[1:3]] == [str(g) for g in mine]

            async def where(seen: list[dict[str, Any]], **kw: Any) -> InteractionRecord:
                n0, n1 = len(seen0), len(seen1)
                rec = await fake.invoke("where", user_id=USER, **kw)
                await rec.wait_for(lambda r: r.ack_type is not None)
                assert (len(seen0) - n0, len(seen1) - n1) == ((1, 0) if seen is seen0 else (0, 1))
                return rec

            assert (await where(seen1, guild_id=b2)).shard == 1
            assert seen1[-1]["guild"] == b2
            assert (await where(seen0, guild_id=a)).shard == 0
            assert (await where(seen0)).guild_id == fake.guild_id
            assert (await where(seen0, in_guild=False)).shard == 0  # DMs go to shard 0
            assert (await where(seen1, guild_id=b1)).shard == 1

            # A guild joined while connected reaches only its shard's process, so do its changes.
            late = fake.add_guild("Late", shard=1, shard_count=2)
            art = fake.add_channel(late, name="art")
            await where(seen1, channel_id=art)
            assert seen1[-1]["guild"] == late and seen1[-1]["channel"] == art
            assert [t for t, _ in fake.events_on_shard(1)[-3:]] == [
                "GUILD_CREATE",
                "CHANNEL_CREATE",
                "INTERACTION_CREATE",
            ]
            assert p1.get_guild(late) is not None and p0.get_guild(late) is None
            assert all(d.get("id") != str(late) for _, d in fake.events_on_shard(0))

            # Process 1 goes away: Discord delivers nothing for its guilds; sending one is a
            # mistake of the test.
            await p1.close()
            await fake.wait_until(lambda: fake.connected_shards == [0])
            with pytest.raises(AssertionError, match="shard 1 of 2, which no bot connection"):
                await fake.invoke("where", user_id=USER, guild_id=b1)
            await where(seen0, guild_id=a)  # shard 0 carries on
        fake.assert_no_violations()


async def test_one_process_runs_both_shards_and_a_newer_session_supersedes_one(
    point_at: Any,
) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        fake.required_shards = 2
        status, body, _ = await raw(fake, "GET", "/gateway/bot")
        assert status == 200 and body["shards"] == 2
        assert body["session_start_limit"]["max_concurrency"] == 1
        b = fake.add_guild("B", shard=1, shard_count=2)
        both: list[dict[str, Any]] = []
        # No shard_count: discord.py asks GET /gateway/bot how many shards to run.
        async with started(fake, sharded_where_bot(both)) as bot:
            await fake.wait_ready(shards=2)
            assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
            assert {g.id for g in bot.guilds} == {fake.guild_id, b}
            await bot.tree.sync()
            rec = await fake.invoke("where", user_id=USER, guild_id=b)
            await rec.wait_for(lambda r: r.ack_type is not None)
            assert rec.shard == 1 and both[-1]["guild"] == b

            # Shard 1's connection drops: the client reconnects that shard only.
            await fake.disconnect_gateway(4000, shard=1)
            assert fake.connected_shards == [0]
            await fake.wait_ready(shards=2)
            assert [i["shard"] for i in fake.identifies] == [[0, 2], [1, 2], [1, 2]]
            rec = await fake.invoke("where", user_id=USER, guild_id=b)
            await rec.wait_for(lambda r: r.ack_type is not None)
            assert both[-1]["guild"] == b and len(both) == 2

            # A second process IDENTIFYs shard 1 too: its session now gets shard 1's events.
            newer: list[dict[str, Any]] = []
            identified = fake.ready_count
            async with started(fake, sharded_where_bot(newer, shard_ids=[1], shard_count=2)):
                await fake.wait_until(lambda: fake.ready_count == identified + 1)
                rec = await fake.invoke("where", user_id=USER, guild_id=b)
                await rec.wait_for(lambda r: r.ack_type is not None)
                assert newer[-1]["guild"] == b and len(both) == 2
                rec = await fake.invoke("where", user_id=USER)  # shard 0: still the first one
                await rec.wait_for(lambda r: r.ack_type is not None)
                assert both[-1]["guild"] == fake.guild_id and len(newer) == 1
        assert fake.sharding_refusals == []
        fake.assert_no_violations()


async def test_too_few_shards_is_4011_sharding_required(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        fake.required_shards = 2
        unsharded = build_where_bot([])  # IDENTIFY without "shard" means [0, 1]
        with pytest.raises(discord.ConnectionClosed) as ei:
            await asyncio.wait_for(unsharded.start(fake.token), timeout=10)
        assert ei.value.code == 4011
        one_shard = sharded_where_bot([], shard_ids=[0], shard_count=1)
        with pytest.raises(discord.ConnectionClosed) as ei:
            await asyncio.wait_for(one_shard.start(fake.token), timeout=10)
        assert ei.value.code == 4011
        assert fake.sharding_refusals == [
            {"shard": [0, 1], "required": 2},
            {"shard": [0, 1], "required": 2},
        ]
        assert fake.identifies == [] and fake.connected_shards == []
        fake.assert_no_violations()  # Discord's answer, not the bot's mistake


async def test_invalid_shards_are_4010(point_at: Any) -> None:
    async with FakeDiscord() as fake:
        point_at(fake)
        bot = sharded_where_bot([], shard_ids=[2], shard_count=2)
        with pytest.raises(discord.ConnectionClosed) as ei:
            await asyncio.wait_for(bot.start(fake.token), timeout=10)
        assert ei.value.code == 4010
        assert len(fake.violations) == 1 and "invalid shard [2, 2]" in fake.violations[0]
        for shard in ([-1, 2], [0, 0], [1, 1], [0], "0,1", [0, True]):
            assert await raw_identify(fake, shard) == 4010, shard
        assert len(fake.violations) == 7

        # A shard_count other than the live sessions' one is an invalid shard too.
        async with started(fake, sharded_where_bot([], shard_ids=[0], shard_count=2)):
            assert await raw_identify(fake, [1, 3]) == 4010
            assert "while live sessions use shard_count [2]" in fake.violations[-1]
            assert await raw_identify(fake, [0, 1]) == 4010  # unsharded next to shard 0 of 2
            assert fake.connected_shards == [0] and fake.shard_count == 2
        assert len(fake.violations) == 9
        assert fake.identifies[0]["shard"] == [0, 2] and len(fake.identifies) == 1


async def test_modals_autocomplete_and_context_menus_are_held_to_discords_rules() -> None:
    async with FakeDiscord() as fake:
        where = fake._channels[fake.channel_id]

        async def answer(itype: int, body: dict[str, Any]) -> int:
            rec, _ = fake._new_record(
                itype, "x", user_id=USER, where=where, permissions=0, roles=[],
                app_permissions=0, locale="en-US", data={},
            )  # fmt: skip
            path = f"/interactions/{rec.id}/{rec.token}/callback?with_response=1"
            status, _, _ = await raw(fake, "POST", path, auth=False, json=body)
            return status

        def modal(*inputs: dict[str, Any]) -> dict[str, Any]:
            rows = [{"type": 1, "components": [{"type": 4, "style": 1, **i}]} for i in inputs]
            return {"type": 9, "data": {"custom_id": "m", "title": "Title", "components": rows}}

        good = {"custom_id": "a", "label": "A", "value": "abc", "max_length": 3}
        assert await answer(2, modal(good)) == 200
        assert await answer(3, modal(good)) == 200
        assert fake.violations == []
        assert await answer(5, modal(good)) == 400  # never in answer to a modal submit
        assert await answer(2, modal(*[{**good, "custom_id": f"i{n}"} for n in range(6)])) == 400
        assert await answer(2, modal({**good, "value": "abcd"})) == 400  # over its max_length
        assert await answer(2, modal({"custom_id": "a"})) == 400  # no label in an action row
        choices = [{"name": f"c{n}", "value": f"c{n}"} for n in range(26)]
        assert await answer(4, {"type": 8, "data": {"choices": choices[:25]}}) == 200
        assert await answer(4, {"type": 8, "data": {"choices": choices}}) == 400
        assert len(fake.violations) == 5

        path = f"/applications/{fake.application_id}/commands"
        menu = {"name": "Use as pose", "type": 3}
        status, _, _ = await raw(fake, "PUT", path, json=[menu])
        assert status == 200 and len(fake.violations) == 5
        status, _, _ = await raw(fake, "PUT", path, json=[{**menu, "description": "no"}])
        assert status == 400 and len(fake.violations) == 6
