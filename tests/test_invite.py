"""`python -m bot invite`: the link that adds the bot to a server, from the token alone."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.harness import run_cli, run_entry_point

APPLICATION_ID = 1234567890123456789
# View Channel, Send Messages, Embed Links, Attach Files, Read Message History: nothing more.
PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16)


def made_up_token(user_id: int) -> str:
    """A token shaped like Discord's: base64 of the bot's id, a timestamp, a signature."""
    first = base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")
    return f"{first}.GhI7kQ.Zm9vYmFyYmF6cXV4LXNpZ25hdHVyZS1wYXJ0LTEyMzQ1"


async def test_invite_prints_the_link_with_exactly_the_permissions_the_bot_uses(
    tmp_path: Path,
) -> None:
    result = await run_entry_point(
        "invite", cwd=tmp_path, DISCORD_TOKEN=made_up_token(APPLICATION_ID)
    )
    assert result.code == 0, result.err
    link, *explained = result.out.splitlines()
    assert link == (
        "https://discord.com/oauth2/authorize?client_id=1234567890123456789"
        "&scope=bot%20applications.commands&permissions=117760"
    )
    assert PERMISSIONS == 117760
    assert [line.split(":")[0].strip() for line in explained] == [
        "View Channel (1024)",
        "Send Messages (2048)",
        "Embed Links (16384)",
        "Attach Files (32768)",
        "Read Message History (65536)",
    ]
    assert all(line.split(":", 1)[1].strip() for line in explained)  # each says what for
    assert result.err == ""


async def test_invite_needs_no_segmind_key_and_reads_the_token_from_dotenv(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={made_up_token(987654321098765432)}\n")
    result = await run_cli("invite", cwd=tmp_path)  # no SEGMIND_API_KEY anywhere
    assert result.code == 0, result.err
    assert "client_id=987654321098765432&" in result.out.splitlines()[0]


@pytest.mark.parametrize(
    "token",
    [
        "garbage-token-SECRET",
        "nope.GhI7kQ.SECRET",  # first part is base64, but not of an id
        base64.b64encode(b"hello").decode() + ".GhI7kQ.SECRET",
        base64.b64encode(b"0123").decode() + ".GhI7kQ.SECRET",
        "Bot " + made_up_token(APPLICATION_ID) + "SECRET",  # pasted with the header's prefix
    ],
)
async def test_a_token_that_does_not_decode_is_named_in_one_line_without_echoing_it(
    tmp_path: Path, token: str
) -> None:
    result = await run_cli("invite", cwd=tmp_path, DISCORD_TOKEN=token)
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.splitlines()) == 1
    assert "DISCORD_TOKEN" in result.err
    assert "SECRET" not in result.err
    assert token.split(".")[0] not in result.err


async def test_a_missing_token_is_named_with_where_to_get_it(tmp_path: Path) -> None:
    result = await run_cli("invite", cwd=tmp_path)
    assert result.code == 2
    assert "DISCORD_TOKEN is missing" in result.err
    assert "discord.com/developers/applications" in result.err
    assert "Traceback" not in result.err
