"""The bot a newcomer writes: discord.py and aiohttp, no database, no queue, no limits.

`python -m bench.naive`, configured like the real bot by DISCORD_TOKEN, DISCORD_API_BASE,
DISCORD_GATEWAY_URL, SEGMIND_API_KEY and SEGMIND_BASE_URL. /character defers at once, reads the
pose, sends it to Segmind as it came (base64, the blocking v1 API) and edits the answer into
the sheet. The benchmark's baseline: what the project's acknowledgements must beat.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import random
from pathlib import Path

import aiohttp
import discord
import yarl
from discord import app_commands

log = logging.getLogger("naive")
DEFAULT_POSE = Path(__file__).resolve().parent.parent / "bot" / "assets" / "default_pose.png"
MODEL_PATH = "/v1/consistent-character-ai-neolemon"
# The example body of Segmind's model page, with the member's prompt, pose and seed.
BODY = {
    "negative_prompt": "lowres, bad anatomy, bad hands, text, error, missing fingers",
    "num_inference_steps": 20,
    "guidance_scale": 7.0,
    "samples": 1,
    "strength": 0.8,
    "scheduler": "karras",
    "sampler": "dpmpp_2m",
    "upscale_by": 2.0,
    "upscale_steps": 20,
    "upscale_guidance_scale": 7.0,
    "upscale_scheduler": "karras",
    "upscale_sampler": "dpmpp_2m",
    "upscale_mode_type": "Linear",
    "fd_steps": 20,
    "fd_guidance_scale": 7.0,
    "fd_scheduler": "karras",
    "fd_sampler": "dpmpp_2m",
}


class NaiveBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default())
        self.tree = app_commands.CommandTree(self)
        self.http_session: aiohttp.ClientSession | None = None
        self.default_pose = DEFAULT_POSE.read_bytes()

        @self.tree.command(description="Draw a character sheet")
        async def character(
            interaction: discord.Interaction,
            prompt: str,
            pose: discord.Attachment | None = None,
            seed: int | None = None,
        ) -> None:
            await interaction.response.defer(thinking=True)
            image = await pose.read() if pose else self.default_pose
            body = {
                **BODY,
                "prompt": prompt,
                "image": base64.b64encode(image).decode(),
                "seed": seed if seed is not None else random.randint(0, 2**31),
            }
            assert self.http_session is not None
            async with self.http_session.post(
                os.environ["SEGMIND_BASE_URL"].rstrip("/") + MODEL_PATH,
                json=body,
                headers={"x-api-key": os.environ["SEGMIND_API_KEY"]},
            ) as answer:
                if answer.status != 200:
                    await interaction.edit_original_response(content=f"Failed ({answer.status})")
                    return
                sheet = await answer.read()
            await interaction.edit_original_response(
                attachments=[discord.File(io.BytesIO(sheet), "sheet.jpg")]
            )

    async def setup_hook(self) -> None:
        self.http_session = aiohttp.ClientSession()
        await self.tree.sync()

    async def close(self) -> None:
        if self.http_session is not None:
            await self.http_session.close()
        await super().close()


def main() -> None:
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"].rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    NaiveBot().run(os.environ["DISCORD_TOKEN"], log_level=logging.INFO)


if __name__ == "__main__":
    main()
