-- Replicas share the work through claims: a prediction waiting or running (pending, enqueued, running) has one
-- row here naming the replica whose queue or worker holds it, and until when its lease runs. Only the holder
-- writes the prediction (each save checks its claim); a lease not renewed in time lets another replica take it.
CREATE TABLE claims (
  prediction_id TEXT PRIMARY KEY,
  replica TEXT NOT NULL,
  lease_until TIMESTAMPTZ NOT NULL,
  started BOOLEAN NOT NULL DEFAULT false  -- running (not just queued): not for an idle replica to take
);
CREATE INDEX claims_lease ON claims(lease_until);
CREATE INDEX claims_replica ON claims(replica);

-- Work accepted before this migration belongs to no live replica: expired at once, so the first replica up takes it.
INSERT INTO claims SELECT id, '', '-infinity', false FROM predictions WHERE status IN ('pending', 'enqueued', 'running');

-- A callback is delivered by one replica at a time, the same way.
ALTER TABLE callbacks ADD COLUMN replica TEXT NOT NULL DEFAULT '';
ALTER TABLE callbacks ADD COLUMN lease_until TIMESTAMPTZ NOT NULL DEFAULT '-infinity';
