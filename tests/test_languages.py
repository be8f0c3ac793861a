"""The member's own language: members of one server are answered each in theirs, at the same
time; what the whole server reads is in the server's; a late delivery keeps the member's; a
server may choose one language for everyone; a language the bot does not speak is English."""

from __future__ import annotations

import pytest

from bot.segmind import InsufficientCredits
from bot.sheets import texts
from bot.sheets.locales import Text, language
from tests.fake_discord import Message
from tests.fake_segmind import AsyncScript, Planned
from tests.harness import Harness
from tests.helpers import (
    acked,
    at_segmind,
    config,
    embed_fields,
    history,
    refusal,
    sheet_delivered,
)

GERMAN = 8101
JAPANESE = 8102
DUTCH = 8103


def said(code: str, text: Text) -> str:
    """`text` in language `code`, checked to be translated (else a test could pass in English)."""
    words = language(code).say(text)
    assert words != str(text), f"{code} has no translation of {text.message!r}"
    return words


def labels(message: Message) -> list[str]:
    rows = message.components
    return [button["label"] for row in rows for button in row["components"]]


async def test_a_german_and_a_japanese_member_are_each_answered_in_their_own_language(
    harness: Harness,
) -> None:
    fake = harness.discord
    fake.set_preferred_locale("de")  # a German community: alerts are in German
    staff = fake.add_channel(name="staff")
    harness.segmind.delay = 1.5  # the Japanese member waits while the German one's is drawn
    start = harness.segmind.credits
    await harness.start_bot(MAX_CONCURRENT_JOBS="1", SHEET_COST_CREDITS="0.13")
    await config(harness, "alerts", channel=staff, below=2000)

    german = await fake.invoke("character", {"prompt": "ein Ritter"}, user_id=GERMAN, locale="de")
    await at_segmind(harness, 1)
    japanese = await fake.invoke("character", {"prompt": "騎士"}, user_id=JAPANESE, locale="ja")
    await japanese.wait_for(acked, timeout=5)
    await harness.until_job(2, "queued")
    queued = said("ja", texts.queued(0))
    await japanese.wait_for(
        lambda rec: rec.original is not None and queued in history(rec.original), timeout=5
    )

    await german.wait_for(sheet_delivered, timeout=15)
    await japanese.wait_for(sheet_delivered, timeout=15)
    assert german.original is not None and japanese.original is not None
    assert said("de", texts.STRENGTH) in embed_fields(german.original), german.original.embeds
    assert german.original.embeds[0]["title"] == said("de", texts.SHEET_TITLE)
    assert japanese.original.embeds[0]["title"] == said("ja", texts.SHEET_TITLE)
    assert said("ja", texts.CREDITS_LEFT) in embed_fields(japanese.original)
    assert labels(german.original)[:2] == [said("de", texts.REROLL), said("de", texts.EDIT)]
    assert labels(japanese.original)[0] == said("ja", texts.REROLL)
    drawing = said("de", texts.drawing(0)).split("<t:")[0]
    assert any(text.startswith(drawing) for text in history(german.original))

    # Asked again within the cooldown: refused privately, each in their own language.
    again_de = await fake.invoke(
        "character", {"prompt": "noch einmal"}, user_id=GERMAN, locale="de"
    )
    again_ja = await fake.invoke("character", {"prompt": "もう一度"}, user_id=JAPANESE, locale="ja")
    await again_de.wait_for(acked, timeout=5)
    await again_ja.wait_for(acked, timeout=5)
    assert refusal(again_de).startswith(said("de", texts.cooldown(0)).split("<t:")[0])
    assert refusal(again_ja).startswith(said("ja", texts.cooldown(0)).split("<t:")[0])

    # The balance alert is for the whole server: in its language, German.
    await fake.wait_until(lambda: any(m.channel_id == staff for m in fake.channel_messages), 5)
    (alert,) = [m.content for m in fake.channel_messages if m.channel_id == staff]
    left = round(start - harness.segmind.cost, 6)  # after the first sheet: below 2,000
    assert alert == said("de", texts.balance_alert(left, 2000))
    assert "2.000,00" in alert  # numbers as German writes them


async def test_what_the_channel_reads_is_in_the_servers_language_and_the_card_in_the_members(
    harness: Harness,
) -> None:
    fake = harness.discord
    fake.set_preferred_locale("de")
    harness.segmind.plan(Planned.status(406, {"error": "Not enough credits"}))
    await harness.start_bot(COOLDOWN_SECONDS="0")
    failed = await fake.invoke("character", {"prompt": "騎士"}, user_id=JAPANESE, locale="ja")
    await failed.wait_for(acked, timeout=5)
    fake.expire_token(failed)  # the member's placeholder can no longer be edited: the channel
    await fake.wait_until(lambda: len(fake.channel_messages) == 1, timeout=10)
    told = fake.channel_messages[0].content
    assert told == f"<@{JAPANESE}> " + said("de", texts.failure(InsufficientCredits(406, "")))

    drawn = await fake.invoke("character", {"prompt": "騎士"}, user_id=JAPANESE, locale="ja")
    await drawn.wait_for(acked, timeout=5)
    fake.expire_token(drawn)
    await fake.wait_until(lambda: len(fake.channel_messages) == 2, timeout=10)
    sheet = fake.channel_messages[1]
    assert sheet.attachments and sheet.embeds[0]["title"] == said("ja", texts.SHEET_TITLE)


async def test_a_german_member_edits_a_sheet_in_a_german_form_with_german_decimals(
    harness: Harness,
) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    fake = harness.discord
    rec = await fake.invoke(
        "character", {"prompt": "ein Ritter", "strength": 0.55}, user_id=GERMAN, locale="de"
    )
    await rec.wait_for(sheet_delivered, timeout=10)
    assert rec.original is not None
    edit = next(c for c in rec.original.custom_ids() if c.startswith("sheet:edit:"))
    press = await fake.click(rec.original, edit, user_id=GERMAN, locale="de")
    await press.wait_for(acked, timeout=5)
    assert press.ack_type == 9 and press.modal is not None, press.events
    assert press.modal["title"] == said("de", texts.EDIT_FORM_TITLE)
    fields = {c["custom_id"]: c for row in press.modal["components"] for c in row["components"]}
    assert fields["strength"]["label"] == said("de", texts.STRENGTH_FIELD)
    assert fields["strength"]["value"] == "0,55"  # as German writes it

    sent = await fake.submit_modal(press, {"strength": "0,6"})  # and read back as typed
    await sent.wait_for(sheet_delivered, timeout=10)
    assert [r.json["strength"] for r in harness.segmind.requests] == [0.55, 0.6]  # one each


@pytest.mark.process
async def test_a_late_delivery_after_a_restart_keeps_the_members_language(
    harness: Harness,
) -> None:
    harness.segmind.async_script = AsyncScript(queued=0.5, processing=3.0)
    bot = await harness.start_bot(SEGMIND_API="v2")
    rec = await harness.discord.invoke(
        "character", {"prompt": "騎士"}, user_id=JAPANESE, locale="ja"
    )
    await harness.until_job(1, "submitted")
    await bot.kill()  # SIGKILL while Segmind draws: the job is followed up after the restart

    await harness.start_bot(SEGMIND_API="v2")
    await rec.wait_for(sheet_delivered, timeout=15)
    assert rec.original is not None
    assert rec.original.embeds[0]["title"] == said("ja", texts.SHEET_TITLE)
    assert labels(rec.original)[0] == said("ja", texts.REROLL)


async def test_a_server_that_chose_a_language_is_answered_in_it_whatever_each_member_speaks(
    harness: Harness,
) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    answer = await config(harness, "language", locale="ja")
    assert answer.startswith(said("ja", texts.SETTING_NAMES["language"]))
    fake = harness.discord
    rec = await fake.invoke(
        "character", {"prompt": "ein Ritter", "strength": 0.9}, user_id=GERMAN, locale="de"
    )
    await rec.wait_for(sheet_delivered, timeout=10)
    assert rec.original is not None
    assert rec.original.embeds[0]["title"] == said("ja", texts.SHEET_TITLE)
    assert said("ja", texts.SETTING_NAMES["cooldown_seconds"]) in await config(harness, "show")

    await config(harness, "language", locale="auto")
    sheets = await fake.invoke("sheets", {}, user_id=GERMAN, locale="de")
    await sheets.wait_for(acked, timeout=5)
    await sheets.wait_for(lambda r: bool(r.original and r.original.embeds), timeout=5)
    assert sheets.original is not None
    assert sheets.original.embeds[0]["title"] == said("de", texts.SHEETS_TITLE)


async def test_a_language_the_bot_does_not_speak_is_answered_in_english(harness: Harness) -> None:
    await harness.start_bot()
    fake = harness.discord
    rec = await fake.invoke(
        "config show", {}, user_id=DUTCH, locale="nl", bypass_default_permissions=True
    )
    await rec.wait_for(acked, timeout=5)
    assert refusal(rec) == str(texts.CONFIG_MODERATORS_ONLY)
    # Latin American Spanish reads the Spanish catalog.
    rec = await fake.invoke(
        "config show", {}, user_id=DUTCH, locale="es-419", bypass_default_permissions=True
    )
    await rec.wait_for(acked, timeout=5)
    assert refusal(rec) == said("es-ES", texts.CONFIG_MODERATORS_ONLY)


async def test_commands_are_registered_with_descriptions_in_every_language(
    harness: Harness,
) -> None:
    await harness.start_bot()  # the fake checks the sync body against Discord's OpenAPI spec
    (character,) = [c for c in harness.discord.global_commands if c["name"] == "character"]
    localized = character["description_localizations"]
    assert localized["de"] == said("de", Text(character["description"]))
    assert localized["ja"] == said("ja", Text(character["description"]))
    assert "name_localizations" not in character or not character["name_localizations"]
    (menu,) = [c for c in harness.discord.global_commands if c.get("type") == 3]
    assert menu["name"] == "Use as pose" and menu["name_localizations"]["de"]
