"""bardbot: the `Bard` Cog (plugin), the standalone bot and console mode.

Everything the project installs lives under this one name (`bardbot.models`, `bardbot.trainer`,
`bardbot.export` too), so it never shadows a host bot's own `bot.py` or `models.py`. A host bot
loads the plugin with `await bot.load_extension("bardbot")`.

`setup` / `teardown` import discord.py only when called, so `import bardbot.models` (the
runtime) and `import bardbot.trainer` stay free of it.
"""


async def setup(bot) -> None:
    from bardbot.extension import setup as _setup

    await _setup(bot)


async def teardown(bot) -> None:
    from bardbot.extension import teardown as _teardown

    await _teardown(bot)
