"""A deliberately slow resolver for the graceful-shutdown test."""

import asyncio


async def slow(ctx):
    await asyncio.sleep(ctx.arguments["seconds"])
    return "done"
