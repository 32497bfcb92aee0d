"""A minimal reader of OLE2 compound files (MS-CFB), enough to tell a .doc from an .xls or a .ppt and to see
whether it is password-protected: stream names and the first bytes of a stream. The bytes are hostile:
every chain is bounded by the file's size, every count by a small ceiling."""

from __future__ import annotations

import struct
from typing import BinaryIO

MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_SECTOR = 0xFFFFFFFA  # larger values are markers (free, end of chain, FAT, DIFAT)
END_OF_CHAIN = 0xFFFFFFFE
MAX_ENTRIES = 4096  # directory entries; real documents have tens
MAX_MINI_CHAIN = 1 << 14  # sectors of the mini stream and of its allocation table (8 MiB with 512-byte sectors)
STREAM = 2


class CfbError(ValueError):
    """The bytes are not a readable compound file."""


class CompoundFile:
    def __init__(self, f: BinaryIO):
        self.f = f
        f.seek(0, 2)
        self.size = f.tell()
        head = self._at(0, 512)
        if len(head) < 512 or head[:8] != MAGIC:
            raise CfbError("the compound-file header is cut short")
        major, order, shift, mini_shift = struct.unpack_from("<HHHH", head, 26)
        if order != 0xFFFE or (major, shift) not in ((3, 9), (4, 12)) or mini_shift != 6:
            raise CfbError("the compound-file header is not valid")
        self.ssize = 1 << shift
        self.sectors = max(0, self.size - self.ssize) // self.ssize + 1  # bounds every chain
        n_fat, first_dir = struct.unpack_from("<II", head, 44)
        self.mini_cutoff, self._first_minifat, self._n_minifat, first_difat, n_difat = struct.unpack_from(
            "<IIIII", head, 56)
        self._fat_sectors = self._difat(list(struct.unpack_from("<109I", head, 76)), first_difat, n_difat, n_fat)
        self._fat: dict[int, tuple[int, ...]] = {}
        self.entries = self._directory(first_dir)
        root = self.entries[0] if self.entries else (b"", 0, 0, 0)
        self._mini_start, self._mini_size = root[2], root[3]

    def _at(self, offset: int, length: int) -> bytes:
        self.f.seek(offset)
        return self.f.read(length)

    def _sector(self, n: int) -> bytes:
        if n > MAX_SECTOR or n >= self.sectors:
            raise CfbError(f"sector {n} is beyond the end of the file")
        return self._at((n + 1) * self.ssize, self.ssize)

    def _difat(self, listed: list[int], sector: int, count: int, n_fat: int) -> list[int]:
        per = self.ssize // 4 - 1  # each DIFAT sector lists this many FAT sectors, then the next DIFAT sector
        n_fat = min(n_fat, -(-self.sectors // (self.ssize // 4)))  # no more than the file's sectors need
        for _ in range(min(count, -(-max(0, n_fat - 109) // per))):
            if sector > MAX_SECTOR:
                break
            data = struct.unpack(f"<{per + 1}I", self._sector(sector).ljust(self.ssize, b"\0"))
            listed.extend(data[:per])
            sector = data[per]
        return listed[:n_fat]

    def _next(self, n: int) -> int:
        per = self.ssize // 4
        index = n // per
        if index >= len(self._fat_sectors):
            raise CfbError(f"sector {n} is not in the allocation table")
        if index not in self._fat:  # FAT sectors are read only as chains reach them
            sector = self._sector(self._fat_sectors[index]).ljust(self.ssize, b"\0")
            self._fat[index] = struct.unpack(f"<{per}I", sector)
        return self._fat[index][n % per]

    def _chain(self, start: int, limit: int) -> list[int]:
        chain: list[int] = []
        seen: set[int] = set()
        n = start
        while n <= MAX_SECTOR and len(chain) < limit:
            if n in seen:
                raise CfbError("a sector chain loops")
            seen.add(n)
            chain.append(n)
            n = self._next(n)
        return chain

    def _directory(self, first: int) -> list[tuple[str, int, int, int]]:
        """(name, type, start sector, size) of every entry; entry 0 is the root (the mini stream's container)."""
        entries = []
        per = self.ssize // 128
        for sector in self._chain(first, MAX_ENTRIES // per + 1):
            data = self._sector(sector)
            for i in range(0, len(data) - 127, 128):
                name_len, kind = struct.unpack_from("<HB", data, i + 64)
                start, size = struct.unpack_from("<IQ", data, i + 116)
                if self.ssize == 512:
                    size &= 0xFFFFFFFF  # version 3 files may leave the high half as garbage
                name = data[i:i + min(name_len, 64)].decode("utf-16-le", "replace").rstrip("\0")
                entries.append((name, kind, start, size))
        if not entries or entries[0][1] != 5:
            raise CfbError("the compound file has no root entry")
        return entries

    def streams(self) -> set[str]:
        return {name for name, kind, _, _ in self.entries if kind == STREAM}

    def read(self, name: str, limit: int) -> bytes:
        """The first `limit` bytes of a stream (b"" when there is none of that name)."""
        found = next((e for e in self.entries if e[1] == STREAM and e[0] == name), None)
        if found is None:
            return b""
        _, _, start, size = found
        want = min(size, limit)
        if size < self.mini_cutoff:
            return self._read_mini(start, want)
        chain = self._chain(start, -(-want // self.ssize))
        return b"".join(self._sector(n) for n in chain)[:want]

    def _read_mini(self, start: int, want: int) -> bytes:
        # Small streams live in 64-byte sectors inside the root entry's stream, chained by the mini FAT.
        minifat = b"".join(self._sector(n) for n in self._chain(self._first_minifat,
                                                                   min(self._n_minifat, MAX_MINI_CHAIN)))
        container = self._chain(self._mini_start, min(-(-self._mini_size // self.ssize), MAX_MINI_CHAIN))
        out = []
        seen: set[int] = set()
        n = start
        while n <= MAX_SECTOR and len(out) * 64 < want:
            if n in seen or (n + 1) * 4 > len(minifat):
                raise CfbError("a mini-sector chain is broken")
            seen.add(n)
            index, offset = divmod(n * 64, self.ssize)
            if index >= len(container):
                raise CfbError("a mini sector is beyond the mini stream")
            out.append(self._sector(container[index])[offset:offset + 64])
            n = struct.unpack_from("<I", minifat, n * 4)[0]
        return b"".join(out)[:want]
