"""Bytes kept under the data directory: accepted inputs (inputs/<prediction>/<n>; small images live in
the store instead) and uploaded files (files/<id>). Written to a temporary name and renamed, so a crash
never leaves half a blob under a real name. No fsync: like SQLite's synchronous=NORMAL, this survives a crash of the
service (the bytes are in the page cache), not a power loss, and keeps a submission fast.
Blocking I/O runs in threads."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path


class Blobs:
    def __init__(self, root: Path):
        self.root = root

    def path(self, rel: str) -> Path:
        return self.root / rel

    def write_sync(self, rel: str, data: bytes) -> None:
        target = self.path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, target)

    async def write(self, rel: str, data: bytes) -> str:
        await asyncio.to_thread(self.write_sync, rel, data)
        return rel

    def _link(self, src: str, rel: str) -> None:
        target = self.path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.path(src), target)  # same bytes, no copy; survives deletion of the file
        except OSError:
            shutil.copyfile(self.path(src), target)

    async def link(self, src: str, rel: str) -> str:
        await asyncio.to_thread(self._link, src, rel)
        return rel

    async def read(self, rel: str) -> bytes:
        return await asyncio.to_thread(self.path(rel).read_bytes)

    def remove_sync(self, rel: str) -> None:
        p = self.path(rel)
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)

    async def remove(self, rel: str) -> None:
        await asyncio.to_thread(self.remove_sync, rel)

    async def remove_many(self, rels: list[str]) -> None:
        """Remove several files or folders in one thread hop."""
        await asyncio.to_thread(lambda: [self.remove_sync(rel) for rel in rels])

    async def names(self, folder: str, older_than_s: float = 0) -> list[str]:
        """Entries of a folder; with `older_than_s`, only those not modified for that long."""
        def _names() -> list[str]:
            try:
                names = os.listdir(self.path(folder))
            except FileNotFoundError:
                return []
            if older_than_s <= 0:
                return names
            cutoff = time.time() - older_than_s
            return [n for n in names if mtime(self.path(folder) / n) < cutoff]

        return await asyncio.to_thread(_names)


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")  # gone meanwhile: nothing to remove
