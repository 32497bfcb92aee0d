"""Claims on PostgreSQL: which replica holds each prediction that waits or runs, for how long.

A claim is made with the prediction (jobs/pg_store.py create), or by a replica that takes one over; it goes with
the save that pauses or ends the prediction. The holder renews all its leases at once, every third of the lease
(and each save renews its own); a claim whose lease ran out (its replica was killed, cut off or stopped) is taken
by the next replica that looks, with FOR UPDATE SKIP LOCKED so two never take the same one. A claim not started
(queued) may also be taken by a replica with idle workers. Times are the database's clock, never a replica's.
"""

from __future__ import annotations

import asyncpg

from vlmgrpc.jobs.pg_store import PgStore

LEASE = "now() + make_interval(secs => $3)"


class PgClaims:
    def __init__(self, store: PgStore):
        self.store = store
        self.replica = store.replica
        self.lease_s = store.lease_s

    async def claim(self, prediction_id: str) -> str | None:
        """Hold the prediction (it is this replica's now, or no one's and unknown): None; else the replica that
        holds it. A paused or ended prediction is claimed for the change at hand (release gives it back)."""
        async def _claim(conn: asyncpg.Connection) -> str | None:
            taken = await conn.fetchval(
                "INSERT INTO claims SELECT id, $2, " + LEASE + ", status = 'running' FROM predictions WHERE id=$1 "
                "ON CONFLICT (prediction_id) DO UPDATE SET replica=EXCLUDED.replica, lease_until=EXCLUDED.lease_until "
                "WHERE claims.replica=EXCLUDED.replica OR claims.lease_until < now() RETURNING 1",
                prediction_id, self.replica, self.lease_s)
            if taken:
                return None
            holder = await conn.fetchval("SELECT replica FROM claims WHERE prediction_id=$1", prediction_id)
            return None if holder in (None, self.replica) else holder

        return await self.store.run(_claim)

    async def release(self, prediction_id: str) -> None:
        """Not this replica's to run: dropped if it is paused or ended, else expired so whoever looks next takes it."""
        async def _release(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "DELETE FROM claims c USING predictions p WHERE c.prediction_id=$1 AND c.replica=$2 "
                "AND p.id=c.prediction_id AND p.status IN ('paused', 'completed', 'failed')",
                prediction_id, self.replica)
            await conn.execute("UPDATE claims SET lease_until='-infinity' WHERE prediction_id=$1 AND replica=$2",
                               prediction_id, self.replica)

        await self.store.run(_release)

    async def release_all(self) -> None:
        """Shutdown: whatever this replica still holds is for the others to take at once (claims and callbacks)."""
        async def _release(conn: asyncpg.Connection) -> None:
            for table in ("claims", "callbacks"):
                await conn.execute(f"UPDATE {table} SET lease_until='-infinity' WHERE replica=$1", self.replica)

        await self.store.run(_release)

    async def renew(self) -> int:
        """Extend every lease this replica holds; the number of claims renewed. Outside the ordered queue, so rows a
        save has locked are skipped, not waited for (no deadlock with it): that save renews its claim itself."""
        async with self.store.connection() as conn, conn.transaction():
            renewed = 0
            for table in ("claims", "callbacks"):
                status = await conn.execute(
                    f"UPDATE {table} SET lease_until=now() + make_interval(secs => $2) WHERE prediction_id IN "
                    f"(SELECT prediction_id FROM {table} WHERE replica=$1 FOR UPDATE SKIP LOCKED)",
                    self.replica, self.lease_s)
                renewed += int(status.split()[-1]) if table == "claims" else 0
        return renewed

    async def mine(self) -> list[str]:
        """Claims this replica id held before a restart (a stable replica_id): its own again, renewed."""
        rows = await self.store.run(lambda conn: conn.fetch(
            "UPDATE claims SET lease_until=now() + make_interval(secs => $2) WHERE replica=$1 RETURNING prediction_id",
            self.replica, self.lease_s))
        return [r[0] for r in rows]

    async def take_expired(self, limit: int) -> list[str]:
        """Up to `limit` claims whose lease ran out, oldest first, now this replica's."""
        if limit <= 0:
            return []
        rows = await self.store.run(lambda conn: conn.fetch(
            "UPDATE claims SET replica=$1, lease_until=now() + make_interval(secs => $3) WHERE prediction_id IN "
            "(SELECT prediction_id FROM claims WHERE lease_until < now() ORDER BY lease_until LIMIT $2 "
            "FOR UPDATE SKIP LOCKED) RETURNING prediction_id", self.replica, limit, self.lease_s))
        return [r[0] for r in rows]

    async def take_queued(self, limit: int) -> list[tuple[str, str]]:
        """Up to `limit` predictions other replicas hold but have not started (enqueued), oldest first, now this
        replica's: (prediction id, the replica it was taken from). One being started meanwhile is skipped (its
        RUNNING save locks the claim, then marks it started), and one taken cannot be started by its old holder
        (the save's check)."""
        if limit <= 0:
            return []
        rows = await self.store.run(lambda conn: conn.fetch(
            "WITH picked AS (SELECT c.prediction_id, c.replica FROM claims c "
            "JOIN predictions p ON p.id = c.prediction_id "
            "WHERE c.replica <> $1 AND NOT c.started AND c.lease_until > now() AND p.status = 'enqueued' "
            "ORDER BY p.created_at "
            "LIMIT $2 FOR UPDATE OF c SKIP LOCKED) "
            "UPDATE claims SET replica=$1, lease_until=now() + make_interval(secs => $3) FROM picked "
            "WHERE claims.prediction_id = picked.prediction_id RETURNING claims.prediction_id, picked.replica",
            self.replica, limit, self.lease_s))
        return [(r[0], r[1]) for r in rows]

    async def holder(self, prediction_id: str) -> str | None:
        return await self.store.run(lambda conn: conn.fetchval(
            "SELECT replica FROM claims WHERE prediction_id=$1", prediction_id))
