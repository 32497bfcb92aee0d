"""Retention: what the service stores is deleted once no one needs it, so disk use stays bounded.

- A terminal prediction's inputs are released (inline rows at once, in the terminal save; files under
  inputs/<id> by the next sweep) unless retention_keep_inputs.
- A terminal prediction is kept, with its events, for retention_terminal_s after it ended (and until its
  callback is delivered or given up), then deleted: reads and watches of it answer NOT_FOUND.
- At start-up, before the port opens, what a crash left behind is removed: inputs of predictions that never
  committed, half-written (.part) files, uploads never recorded.

Each sweep step is one bounded store operation (retention_batch predictions), so a sweep never holds the store
for long; file removal runs in a thread."""

from __future__ import annotations

import asyncio
import logging
import time

from vlmgrpc.jobs.blobs import Blobs, mtime
from vlmgrpc.jobs.store_api import JobStore
from vlmgrpc.settings import Settings

log = logging.getLogger(__name__)
SHARED_ORPHAN_AGE_S = 24 * 3600  # far longer than any upload or submission takes to commit
VACUUM_PAGES = 1024  # free pages handed back to the file system per sweep (4 MiB of 4 KiB pages)


class Retention:
    def __init__(self, settings: Settings, store: JobStore, blobs: Blobs):
        self.settings, self.store, self.blobs = settings, store, blobs

    async def run(self) -> None:
        """Sweep every retention_sweep_s, for as long as the server runs (cancelled at shutdown)."""
        while True:
            await asyncio.sleep(self.settings.retention_sweep_s)
            try:
                await self.sweep()
            except Exception:  # a failed sweep is tried again next time; nothing is lost by waiting
                log.exception("retention sweep failed")

    async def sweep(self) -> tuple[int, int]:
        """Release the inputs of ended predictions and delete the expired ones: (released, deleted)."""
        batch, released, deleted = self.settings.retention_batch, 0, 0
        while ids := await self.store.inputs_to_release(batch):
            await self.blobs.remove_many([f"inputs/{i}" for i in ids])  # first: a crash between retries it
            await self.store.inputs_released(ids)
            released += len(ids)
        ended_before = time.time() - self.settings.retention_terminal_s
        while ids := await self.store.delete_expired(ended_before, batch):
            await self.blobs.remove_many([f"inputs/{i}" for i in ids])  # kept inputs (a crash: orphan sweep)
            deleted += len(ids)
        if deleted:
            await self.store.give_back_pages(VACUUM_PAGES)
            log.info("retention: deleted %d predictions, released the inputs of %d", deleted, released)
        return released, deleted

    async def sweep_orphans(self) -> int:
        """At start-up, before any submission: remove what no committed row refers to. Returns the count. With a
        shared store, other replicas are writing inputs they have not committed yet: only old entries go."""
        removed: list[str] = []
        older_than_s = SHARED_ORPHAN_AGE_S if self.store.shared else 0
        for folder, missing in (("inputs", self.store.missing_predictions), ("files", self.store.missing_files)):
            names = await self.blobs.names(folder, older_than_s)
            parts = [n for n in names if n.endswith(".part")]
            names = [n for n in names if not n.endswith(".part")]
            removed += [f"{folder}/{n}" for n in parts]
            for start in range(0, len(names), self.settings.retention_batch):
                chunk = names[start:start + self.settings.retention_batch]
                removed += [f"{folder}/{n}" for n in sorted(await missing(chunk))]
        removed += await asyncio.to_thread(self._parts_in_inputs, older_than_s)
        await self.blobs.remove_many(removed)
        if removed:
            log.info("removed %d orphaned inputs and files: %s", len(removed), ", ".join(removed[:5]))
        return len(removed)

    def _parts_in_inputs(self, older_than_s: float) -> list[str]:
        """Half-written inputs of predictions that did commit (none should exist)."""
        root = self.blobs.path("inputs")
        cutoff = time.time() - older_than_s
        parts = root.glob("*/*.part") if root.is_dir() else ()
        return [str(p.relative_to(self.blobs.root)) for p in parts if not older_than_s or mtime(p) < cutoff]
