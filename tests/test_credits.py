"""/credits: moderators see the balance and usage privately; nobody else makes it cost a call."""

from __future__ import annotations

from tests.fake_discord import InteractionRecord, Permissions
from tests.harness import Harness
from tests.helpers import replied

MEMBER = 7001
MODERATOR = 7002


def fields(rec: InteractionRecord) -> dict[str, str]:
    assert rec.original is not None
    return {f["name"]: f["value"] for f in rec.original.embeds[0]["fields"]}


async def test_a_moderator_sees_balance_last_seen_credits_and_usage(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    for n in range(2):
        rec = await harness.discord.invoke("character", {"prompt": f"p{n}"}, user_id=MEMBER + n)
        await rec.wait_for(lambda r: bool(r.original and r.original.attachments))
    credits = await harness.discord.invoke(
        "credits", user_id=MODERATOR, permissions=Permissions.MANAGE_GUILD
    )
    await credits.wait_for(replied)
    assert credits.ephemeral
    shown = fields(credits)
    assert shown["Balance now"].startswith(f"{harness.segmind.credits:,.2f}")
    assert shown["Last seen after a sheet"].startswith(f"{harness.segmind.credits:,.2f}")
    spent = 2 * harness.segmind.cost
    assert shown["Today (UTC)"] == f"2 sheets, {spent:,.2f} credits"
    assert shown["Last 7 days"] == f"2 sheets, {spent:,.2f} credits"
    assert harness.segmind.credits_requests == 2  # one at start-up, one for /credits


async def test_a_member_with_a_moderator_role_may_check_credits(harness: Harness) -> None:
    role = harness.discord.add_role("Mods")
    await harness.start_bot(MODERATOR_ROLE_IDS=str(role))
    rec = await harness.discord.invoke(
        "credits", user_id=MODERATOR, roles=[role], bypass_default_permissions=True
    )
    await rec.wait_for(replied)
    assert "Balance now" in fields(rec)


async def test_a_non_moderator_is_refused_privately_and_no_segmind_call_is_made(
    harness: Harness,
) -> None:
    await harness.start_bot()
    # A server admin may have opened the command to everyone; the bot still checks.
    rec = await harness.discord.invoke("credits", user_id=MEMBER, bypass_default_permissions=True)
    await rec.wait_for(lambda r: r.acked_at is not None)
    assert rec.ack_type == 4 and rec.ephemeral
    assert rec.original is not None and "Only moderators" in rec.original.content
    assert harness.segmind.credits_requests == 1  # the start-up check only


async def test_balance_unavailable_is_said_plainly(harness: Harness) -> None:
    harness.segmind.api_key = "sk-test-rotated-key"  # the bot's key no longer works
    await harness.start_bot(SEGMIND_API_KEY="sk-test-old-key")
    rec = await harness.discord.invoke(
        "credits", user_id=MODERATOR, permissions=Permissions.MANAGE_GUILD
    )
    await rec.wait_for(replied)
    assert fields(rec)["Balance now"].startswith("unavailable right now")
    assert "SEGMIND_API_KEY" in fields(rec)["Balance now"]


async def test_a_bad_segmind_key_is_reported_to_the_operator_at_start_up(
    harness: Harness,
) -> None:
    bot = await harness.start_bot(SEGMIND_API_KEY="sk-test-wrong-key")
    await bot.wait_for_log("Segmind refused SEGMIND_API_KEY")
    assert "sk-test-wrong-key" not in bot.logs
