"""Server controls: /config settings that change what the bot does and survive restarts,
credit budgets that hold under a burst, the ledger, and alerts once per crossing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tests.fake_discord import Message, Permissions
from tests.fake_segmind import Planned
from tests.harness import Harness, run_cli
from tests.helpers import MODERATOR, acked, answered, config, draw, refusal, sheet_delivered

MEMBER = 7101
OTHER = 7102
MOD = MODERATOR  # the one helpers.config acts as
MANAGE = Permissions.MANAGE_GUILD


# --- who may ------------------------------------------------------------------------------------


async def test_members_cannot_read_or_change_settings_even_if_the_command_is_opened(
    harness: Harness,
) -> None:
    await harness.start_bot()
    for command, options in (("show", {}), ("cooldown", {"seconds": 0})):
        rec = await harness.discord.invoke(
            f"config {command}", options, user_id=MEMBER, bypass_default_permissions=True
        )
        await rec.wait_for(acked, timeout=5)
        assert rec.ack_type == 4 and rec.ephemeral
        assert "Only moderators" in (rec.original.content if rec.original else "")
    assert "Cooldown: 60 sec (the default)" in await config(harness, "show")


async def test_the_config_command_is_for_manage_server_by_default(harness: Harness) -> None:
    await harness.start_bot()
    (command,) = [c for c in harness.discord.global_commands if c["name"] == "config"]
    assert int(command["default_member_permissions"]) == MANAGE
    names = {o["name"] for o in command["options"]}
    assert names == {
        "show",
        "cooldown",
        "daily-limit",
        "budget",
        "alerts",
        "reroll",
        "channels",
        "blocked-words",
        "moderator-roles",
        "safety",
        "language",
    }


async def test_a_role_added_as_moderators_may_configure_and_delete(harness: Harness) -> None:
    role = harness.discord.add_role("Helpers")
    await harness.start_bot()
    said = await config(harness, "moderator-roles add", role=role)
    assert f"<@&{role}>" in said
    rec = await harness.discord.invoke(
        "config show", {}, user_id=OTHER, roles=[role], bypass_default_permissions=True
    )
    await rec.wait_for(acked, timeout=5)
    assert rec.original is not None and rec.original.embeds, rec.original


async def test_everyone_cannot_become_a_moderator_role(harness: Harness) -> None:
    everyone = harness.discord.guild_id  # Discord gives @everyone the server's own id
    # An operator's mistake too: @everyone among MODERATOR_ROLE_IDS makes nobody a moderator.
    await harness.start_bot(MODERATOR_ROLE_IDS=str(everyone))
    said = await config(harness, "moderator-roles add", role=everyone)
    assert "@everyone can't be a moderator role" in said
    assert "Moderator roles: none" in await config(harness, "show")
    rec = await harness.discord.invoke(
        "config show", {}, user_id=OTHER, bypass_default_permissions=True
    )
    await rec.wait_for(acked, timeout=5)
    assert rec.original is not None and "Only moderators" in rec.original.content


# --- each setting does what it says, and survives a restart -------------------------------------


async def test_cooldown_daily_limit_and_reroll_change_behaviour_and_survive_a_restart(
    harness: Harness,
) -> None:
    bot = await harness.start_bot(COOLDOWN_SECONDS="600")
    assert "600 sec (the default) → 0 sec" in await config(harness, "cooldown", seconds=0)
    assert "no limit → 2 sheets" in await config(harness, "daily-limit", sheets=2)
    await config(harness, "reroll", open=True)
    await bot.kill()

    await harness.start_bot(COOLDOWN_SECONDS="600")
    first = await draw(harness, MEMBER, "one")
    second = await draw(harness, MEMBER, "two")  # no cooldown here any more
    assert sheet_delivered(first), first.events
    assert sheet_delivered(second), [m.content for m in second.all_messages]
    third = await draw(harness, MEMBER, "three")
    assert "2/2" in refusal(third) and "<t:" in refusal(third)
    assert first.original is not None
    reroll = await harness.discord.click(
        first.original, first.original.custom_ids()[0], user_id=OTHER
    )
    await reroll.wait_for(sheet_delivered, timeout=10)  # anyone may re-roll now
    shown = await config(harness, "show")
    assert "Cooldown: 0 sec" in shown and "2 sheets" in shown


async def test_every_setting_survives_a_restart_and_each_change_is_recorded(
    harness: Harness,
) -> None:
    role = harness.discord.add_role("Artists")
    channel = harness.discord.channel_id
    bot = await harness.start_bot()
    await config(harness, "budget", credits=5)
    await config(harness, "alerts", channel=channel, below=3)
    await config(harness, "blocked-words add", words="ogre")
    await config(harness, "channels add", channel=channel)
    await config(harness, "moderator-roles add", role=role)
    await config(harness, "reroll", open=True)
    await bot.kill()

    await harness.start_bot()
    shown = await config(harness, "show")
    for expected in (
        "of 5.00",
        f"<#{channel}> below 3.00",
        "`ogre`",
        f"Allowed channels: <#{channel}>",
        f"<@&{role}>",
        "Anyone may re-roll: yes",
    ):
        assert expected in shown, (expected, shown)
    with sqlite3.connect(harness.cwd / "bot.sqlite3") as db:
        changes = db.execute("SELECT user_id, setting, new FROM config_changes").fetchall()
    assert {setting for _, setting, _ in changes} >= {
        "budget",
        "alerts_channel_id",
        "alerts_below",
        "blocked_word",
        "channel",
        "moderator_role",
        "open_reroll",
    }
    assert {user for user, _, _ in changes} == {MOD}


async def test_blocked_words_are_refused_naming_the_word(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    said = await config(harness, "blocked-words add", words="Dragon, red eyes")
    assert "`dragon`" in said and "`red eyes`" in said
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "DRAGON")
    for prompt in ("a DRAGÓN rider", f"a {full_width}", "knight with red  eyes"):
        rec = await draw(harness, MEMBER, prompt)
        assert "doesn't allow the word" in refusal(rec), prompt
    allowed = await draw(harness, MEMBER, "a dragonfly")
    assert sheet_delivered(allowed)
    await config(harness, "blocked-words remove", words="dragon")
    assert sheet_delivered(await draw(harness, MEMBER, "a dragon"))
    assert len(harness.segmind.requests) == 2


# --- budgets ------------------------------------------------------------------------------------


@pytest.mark.process
async def test_a_burst_of_thirty_against_a_budget_for_ten_sheets_accepts_exactly_ten(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.2
    await harness.start_bot(SHEET_COST_CREDITS="0.13", MAX_CONCURRENT_JOBS="4")
    await config(harness, "budget", credits=1.3)
    recs = await asyncio.gather(
        *(
            harness.discord.invoke("character", {"prompt": f"b{n}"}, user_id=8100 + n)
            for n in range(30)
        )
    )
    for rec in recs:
        await rec.wait_for(answered, timeout=30)
    assert sum(sheet_delivered(rec) for rec in recs) == 10
    assert len(harness.segmind.requests) == 10
    refused = [refusal(rec) for rec in recs if not sheet_delivered(rec)]
    assert all("budget is spent" in text for text in refused)


async def test_a_failed_sheet_gives_its_reservation_back(harness: Harness) -> None:
    harness.segmind.plan(Planned.status(500), Planned.status(500))
    await harness.start_bot(SHEET_COST_CREDITS="0.13")
    await config(harness, "budget", credits=0.13)
    failed = await draw(harness, MEMBER, "fails")
    assert failed.original is not None and "Segmind had a problem" in failed.original.content
    ok = await draw(harness, OTHER, "fits the budget again")
    assert sheet_delivered(ok)
    over = await draw(harness, MEMBER, "over budget")
    assert "budget is spent" in refusal(over)


async def test_a_negative_cost_from_segmind_disables_no_budget(harness: Harness) -> None:
    harness.segmind.cost = -100.0  # one absurd x-cost must not become every sheet's expected cost
    await harness.start_bot(SHEET_COST_CREDITS="0.13", COOLDOWN_SECONDS="0")
    await config(harness, "budget", credits=0.39)
    drawn = [await draw(harness, MEMBER + n, f"s{n}") for n in range(4)]
    assert [sheet_delivered(rec) for rec in drawn] == [True, True, True, False]
    assert "budget is spent" in refusal(drawn[3])
    assert len(harness.segmind.requests) == 3
    assert "0.39 spent in the last 24 hours of 0.39 (100%)" in await config(harness, "show")


# --- alerts -------------------------------------------------------------------------------------


async def test_one_alert_per_crossing(harness: Harness) -> None:
    harness.segmind.credits = 10.0
    await harness.start_bot(COOLDOWN_SECONDS="0")
    channel = harness.discord.channel_id
    await config(harness, "alerts", channel=channel, below=9.9)

    def alerts() -> list[Message]:
        return [m for m in harness.discord.channel_messages if "⚠️" in m.content]

    for n in range(3):  # 9.871, 9.742, 9.613: crossed once
        await draw(harness, MEMBER, f"s{n}")
    await harness.discord.wait_until(lambda: len(alerts()) == 1, timeout=5)
    harness.segmind.credits = 20.0  # topped up: back above the line
    await draw(harness, MEMBER, "above")
    harness.segmind.credits = 5.0
    await draw(harness, MEMBER, "below again")
    await harness.discord.wait_until(lambda: len(alerts()) == 2, timeout=5)
    await asyncio.sleep(0.5)
    assert len(alerts()) == 2
    assert all(m.pinged_user_ids == [] for m in alerts())
    assert "below this server's alert line of 9.90" in alerts()[0].content


async def test_a_budget_alert_at_eighty_percent_once(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0", SHEET_COST_CREDITS="0.13")
    await config(harness, "budget", credits=0.6)
    await config(harness, "alerts", channel=harness.discord.channel_id, below=0)
    for n in range(4):  # 0.129 each: 80 % of 0.6 (0.48) is passed at the 4th
        await draw(harness, MEMBER, f"s{n}")
    await harness.discord.wait_until(
        lambda: any("80%" in m.content for m in harness.discord.channel_messages), timeout=5
    )
    assert sum("80%" in m.content for m in harness.discord.channel_messages) == 1


# --- the ledger ---------------------------------------------------------------------------------


async def test_the_ledger_matches_what_segmind_billed(harness: Harness, tmp_path: Path) -> None:
    harness.segmind.plan(Planned.status(500), Planned.status(500))  # a failure, not billed
    start = harness.segmind.credits
    bot = await harness.start_bot(COOLDOWN_SECONDS="0")
    for n in range(4):
        await draw(harness, MEMBER if n % 2 else OTHER, f"l{n}")
    await harness.until_job(4, "done")
    billed = start - harness.segmind.credits
    await bot.kill()
    settings = {k: v for k, v in harness.settings().items() if k != "DISCORD_TOKEN"}
    table = await run_cli("usage", "--csv", cwd=tmp_path, **settings)
    assert table.code == 0, table.err
    rows = [line.split(",") for line in table.out.splitlines()[1:]]
    assert sum(float(r[4]) for r in rows) == pytest.approx(billed)
    assert sum(int(r[3]) for r in rows) == 3
    assert {int(r[2]) for r in rows} == {MEMBER, OTHER}
    text = await run_cli("usage", "--days", "1", cwd=tmp_path, **settings)
    assert text.out.splitlines()[-1].split()[:2] == ["total", "3"]


async def test_credits_shows_spend_top_members_and_how_long_the_balance_lasts(
    harness: Harness,
) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    for user, n in ((MEMBER, 2), (OTHER, 1)):
        for k in range(n):
            await draw(harness, user, f"{user}-{k}")
    rec = await harness.discord.invoke("credits", user_id=MOD, permissions=MANAGE)
    await rec.wait_for(lambda r: bool(r.original and r.original.embeds), timeout=10)
    assert rec.original is not None
    fields = {f["name"]: f["value"] for f in rec.original.embeds[0]["fields"]}
    assert fields["Last 24 hours"] == f"{3 * harness.segmind.cost:,.2f} credits"
    assert fields["Top members this week"].splitlines()[0].startswith(f"<@{MEMBER}>")
    assert "days" in fields["The balance lasts"]
    assert rec.original.pinged_user_ids == []


# --- prompts that show nothing ------------------------------------------------------------------


async def test_a_prompt_of_only_hangul_fillers_is_refused_privately_and_costs_nothing(
    harness: Harness,
) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    for prompt in ("\u3164", "\u3164 \u3164", "\u2800\u2800"):
        rec = await draw(harness, MEMBER, prompt)
        assert "prompt" in refusal(rec), prompt
    assert harness.segmind.requests == []


# --- blocked words seen through look-alike letters ---------------------------------------------


async def test_a_look_alike_of_a_blocked_word_is_refused_privately_and_costs_nothing(
    harness: Harness,
) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    await config(harness, "blocked-words add", words="dragon")
    # A Cyrillic small a (U+0430), then small capitals.
    for prompt in ("a dr\u0430gon rider", "a \u1d05\u0280\u1d00\u0262\u1d0f\u0274"):
        rec = await draw(harness, MEMBER, prompt)
        assert "doesn't allow the word \u201cdragon\u201d" in refusal(rec), prompt
    assert harness.segmind.requests == []
