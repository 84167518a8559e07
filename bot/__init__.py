"""bardbot on Discord: the `Bard` Cog (plugin), the standalone bot and console mode.

A host bot loads the plugin with `await bot.load_extension("bot.extension")`; loading the
package itself (`"bot"`) works too, through the `setup`/`teardown` re-exported here.
"""

from bot.extension import setup, teardown

__all__ = ["setup", "teardown"]
