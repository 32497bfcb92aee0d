-- The embedded store's schema (jobs/store.py) on PostgreSQL. Times of rows are ISO-8601 text, as there, so
-- listing cursors compare the same way in both stores.
CREATE TABLE predictions (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  request_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  status TEXT NOT NULL,
  domain TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE UNIQUE INDEX predictions_request ON predictions(owner, request_id) WHERE request_id <> '';
CREATE INDEX predictions_owner_created ON predictions(owner, created_at DESC, id DESC);
CREATE INDEX predictions_status ON predictions(status, created_at);

CREATE TABLE events (
  prediction_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  type TEXT NOT NULL,
  time TEXT NOT NULL,
  snapshot TEXT NOT NULL,
  PRIMARY KEY (prediction_id, sequence)
);

CREATE TABLE element_results (
  prediction_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  result TEXT NOT NULL,
  PRIMARY KEY (prediction_id, idx)
);

CREATE TABLE inputs (
  prediction_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (prediction_id, idx)
);

CREATE TABLE files (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  created_at TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX files_owner_created ON files(owner, created_at DESC, id DESC);

CREATE TABLE terminal (
  prediction_id TEXT PRIMARY KEY,
  ended DOUBLE PRECISION NOT NULL,
  release_inputs BOOLEAN NOT NULL
);
CREATE INDEX terminal_ended ON terminal(ended);
CREATE INDEX terminal_release ON terminal(prediction_id) WHERE release_inputs;

-- The callback outbox, delivered in the order queued.
CREATE TABLE callbacks (
  prediction_id TEXT PRIMARY KEY,
  attempts INTEGER NOT NULL DEFAULT 0,
  queued BIGINT GENERATED ALWAYS AS IDENTITY
);
