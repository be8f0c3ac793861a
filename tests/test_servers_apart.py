"""Servers apart: one server's /config settings, allowed channels and alerts never reach another
server the bot is in, and within a server /character is drawn only where its moderators allow."""

from __future__ import annotations

from tests.fake_discord import InteractionRecord
from tests.harness import Harness
from tests.helpers import MODERATOR, acked, config, draw, refusal, sheet_delivered

MEMBER = 7201
OTHER = 7202
MOD = MODERATOR  # the one helpers.config acts as
HELPER = 7204


def drawn_in(rec: InteractionRecord, channel_id: int) -> bool:
    """The sheet was delivered, in that channel."""
    return (
        sheet_delivered(rec) and rec.original is not None and rec.original.channel_id == channel_id
    )


# --- settings -----------------------------------------------------------------------------------


async def test_one_servers_settings_never_apply_in_another(harness: Harness) -> None:
    fake = harness.discord
    a, b = fake.guild_id, fake.add_guild("Server B")
    helpers_a = fake.add_role("Helpers")
    helpers_b = fake.add_role("Helpers", guild_id=b)
    await harness.start_bot(COOLDOWN_SECONDS="600")

    # A member's cooldown in A does not hold them back in B (nor the other way round).
    assert sheet_delivered(await draw(harness, OTHER, "a knight"))
    assert sheet_delivered(await draw(harness, OTHER, "a knight", guild_id=b))
    assert "You can draw again" in refusal(await draw(harness, OTHER, "again"))
    assert "You can draw again" in refusal(await draw(harness, OTHER, "again", guild_id=b))

    await config(harness, "cooldown", seconds=0)
    await config(harness, "daily-limit", sheets=1)
    await config(harness, "blocked-words add", words="dragon")
    await config(harness, "budget", credits=50.0)
    await config(harness, "moderator-roles add", role=helpers_a)

    assert "doesn't allow the word" in refusal(await draw(harness, MEMBER, "a dragon"))
    assert sheet_delivered(await draw(harness, MEMBER, "a knight"))
    assert "1/1" in refusal(await draw(harness, MEMBER, "a second knight"))
    # In B: the word is allowed, A's daily limit does not count, B's cooldown is the default.
    assert sheet_delivered(await draw(harness, MEMBER, "a dragon", guild_id=b))
    in_b = refusal(await draw(harness, MEMBER, "a second dragon", guild_id=b))
    assert "You can draw again" in in_b and "1/1" not in in_b
    assert len(harness.segmind.requests) == 4

    shown_a = await config(harness, "show")
    assert "Cooldown: 0 sec" in shown_a and "1 sheet" in shown_a and "50.00" in shown_a
    assert f"<@&{helpers_a}>" in shown_a and "`dragon`" in shown_a
    shown_b = await config(harness, "show", guild_id=b)
    assert "Cooldown: 600 sec (the default)" in shown_b
    assert "Daily limit per member: no limit" in shown_b
    assert "(no budget)" in shown_b
    assert "Moderator roles: none (Manage Server)" in shown_b
    assert "Blocked words: none" in shown_b

    # A's moderator role makes moderators in A only.
    for guild, role, allowed in ((a, helpers_a, True), (b, helpers_b, False)):
        rec = await fake.invoke(
            "config show",
            {},
            user_id=HELPER,
            roles=[role],
            guild_id=guild,
            bypass_default_permissions=True,
        )
        await rec.wait_for(acked, timeout=5)
        assert rec.ephemeral and rec.original is not None
        assert bool(rec.original.embeds) is allowed, rec.original.content


# --- allowed channels ---------------------------------------------------------------------------


async def test_character_is_drawn_only_in_the_allowed_channels(harness: Harness) -> None:
    fake = harness.discord
    general = fake.channel_id
    sheets = fake.add_channel(name="sheets")
    more = fake.add_channel(name="more-sheets")
    thread = fake.add_thread(sheets, name="work in progress")
    b = fake.add_guild("Server B")
    await harness.start_bot(COOLDOWN_SECONDS="600")
    assert f"<#{sheets}>" in await config(harness, "channels add", channel=sheets)

    elsewhere = await draw(harness, MEMBER, "a knight", channel_id=general)
    told = refusal(elsewhere)
    assert f"<#{sheets}>" in told and f"<#{more}>" not in told
    assert harness.segmind.requests == []
    # Nothing was charged: the member draws in the allowed channel at once.
    assert drawn_in(await draw(harness, MEMBER, "a knight", channel_id=sheets), sheets)
    # A thread counts as its channel.
    assert drawn_in(await draw(harness, OTHER, "a squire", channel_id=thread), thread)
    # Another server keeps drawing everywhere.
    assert sheet_delivered(await draw(harness, OTHER, "a squire", guild_id=b))
    assert len(harness.segmind.requests) == 3

    assert f"<#{more}>" in await config(harness, "channels add", channel=more)
    told = refusal(await draw(harness, HELPER, "a page", channel_id=general))
    assert f"<#{sheets}>" in told and f"<#{more}>" in told
    shown = await config(harness, "show")
    assert f"<#{sheets}>" in shown and f"<#{more}>" in shown
    assert drawn_in(await draw(harness, HELPER, "a page", channel_id=more), more)

    await config(harness, "channels clear")
    assert drawn_in(await draw(harness, MOD, "a bishop", channel_id=general), general)
    assert "Allowed channels: everywhere" in await config(harness, "show")
    assert len(harness.segmind.requests) == 5


# --- alerts -------------------------------------------------------------------------------------


async def test_alerts_go_to_the_channel_each_server_chose(harness: Harness) -> None:
    harness.segmind.credits = 10.0
    fake = harness.discord
    b = fake.add_guild("Server B")
    staff_a = fake.add_channel(name="staff")
    staff_b = fake.add_channel(b, name="staff")
    await harness.start_bot(COOLDOWN_SECONDS="0", SHEET_COST_CREDITS="0.13")
    await config(harness, "alerts", channel=staff_a, below=9.9)
    await config(harness, "alerts", channel=staff_b, below=5.0, guild_id=b)
    await config(harness, "budget", credits=0.15, guild_id=b)

    def alerts() -> list[tuple[int, int | None, str]]:
        return [(m.channel_id, m.guild_id, m.content) for m in fake.channel_messages]

    # A sheet in B: the balance (9.87) is below A's line, not B's; B spent 80 % of its budget.
    assert sheet_delivered(await draw(harness, MEMBER, "a knight", guild_id=b))
    await fake.wait_until(lambda: len(alerts()) == 2, timeout=5)
    (in_a,) = [
        text for channel, guild, text in alerts() if (channel, guild) == (staff_a, fake.guild_id)
    ]
    (in_b,) = [text for channel, guild, text in alerts() if (channel, guild) == (staff_b, b)]
    assert "alert line of 9.90" in in_a
    assert "80%" in in_b

    # The balance falls below B's line: B is told, A (already told) is not again.
    harness.segmind.credits = 4.0
    assert sheet_delivered(await draw(harness, MEMBER, "a squire"))
    await fake.wait_until(lambda: len(alerts()) == 3, timeout=5)
    assert alerts()[-1][:2] == (staff_b, b) and "alert line of 5.00" in alerts()[-1][2]
    assert {channel for channel, _, _ in alerts()} == {staff_a, staff_b}
    assert all(m.pinged_user_ids == [] for m in fake.channel_messages)
