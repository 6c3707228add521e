"""An asyncio job under @jobwatch.monitor, with an overrun warning.

    python examples/async_job.py

The job outlives its 0.2 s timeout, so a "still running" warning is reported while it runs;
then it fails and the failure is reported.
"""

from __future__ import annotations

import asyncio

import jobwatch


async def fetch(shard: int) -> int:
    await asyncio.sleep(0.1 * shard)
    if shard == 3:
        raise ConnectionError(f"shard {shard} did not answer")
    return shard


@jobwatch.monitor("sync-shards", timeout=0.2, owners=["ops_oncall"])
async def sync_all() -> list[int]:
    return list(await asyncio.gather(*(fetch(shard) for shard in range(4))))


if __name__ == "__main__":
    asyncio.run(sync_all())
