-- Canopy's PostgreSQL schema, version 1. Key columns use the "C" collation so that ordering
-- is by bytes, as in the embedded store. Times used in comparisons are epoch milliseconds
-- (bigint), as the embedded store keeps them; records are the same JSON bytes it stores.

-- Small named values: settings, cursors, trained models, grid data, schedules' last runs.
CREATE TABLE meta (
    key   text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);

-- Events, idempotent by (repository, id).
CREATE TABLE events (
    repo          text COLLATE "C" NOT NULL,
    id            text COLLATE "C" NOT NULL,
    at_ms         bigint NOT NULL,
    change_number bigint,
    head_sha      text COLLATE "C",
    data          bytea NOT NULL,
    PRIMARY KEY (repo, id)
);
CREATE INDEX events_by_time ON events (repo, at_ms, id);
CREATE INDEX events_by_change ON events (repo, change_number, at_ms, id) WHERE change_number IS NOT NULL;
CREATE INDEX events_by_sha ON events (repo, head_sha, at_ms, id) WHERE head_sha IS NOT NULL;

-- The people each event names, for time-range scans per person.
CREATE TABLE event_actors (
    actor_key text COLLATE "C" NOT NULL,
    at_ms     bigint NOT NULL,
    repo      text COLLATE "C" NOT NULL,
    id        text COLLATE "C" NOT NULL,
    PRIMARY KEY (actor_key, at_ms, repo, id)
);

-- Webhook deliveries: stored once per (platform, delivery id) before they are acknowledged,
-- queued by seq, claimed by one replica at a time (claim_owner until claim_until_ms).
CREATE SEQUENCE inbox_seq;
CREATE TABLE deliveries (
    platform       text COLLATE "C" NOT NULL,
    id             text COLLATE "C" NOT NULL,
    seq            bigint NOT NULL,
    event          text NOT NULL,
    received_at    text NOT NULL,
    body           bytea NOT NULL,
    ordering_key   text COLLATE "C" NOT NULL,
    state          text NOT NULL CHECK (state IN ('pending', 'processed', 'ignored', 'quarantined')),
    state_at       text,
    reason         text,
    events         integer NOT NULL DEFAULT 0,
    attempts       integer NOT NULL DEFAULT 0,
    claim_owner    text,
    claim_until_ms bigint,
    PRIMARY KEY (platform, id)
);
CREATE INDEX deliveries_pending ON deliveries (seq) WHERE state = 'pending';
CREATE INDEX deliveries_pending_by_key ON deliveries (ordering_key, seq) WHERE state = 'pending';
CREATE INDEX deliveries_quarantined ON deliveries (platform, id) WHERE state = 'quarantined';

-- Outgoing actions under their idempotency key; pending ones by due time.
CREATE TABLE outbox (
    id             text COLLATE "C" PRIMARY KEY,
    state          text NOT NULL CHECK (state IN ('pending', 'done', 'dead')),
    due_ms         bigint NOT NULL,
    item           bytea NOT NULL,
    claim_owner    text,
    claim_until_ms bigint
);
CREATE INDEX outbox_due ON outbox (due_ms, id) WHERE state = 'pending';
CREATE INDEX outbox_dead ON outbox (id) WHERE state = 'dead';

-- Each identity's latest consent record.
CREATE TABLE consent (
    actor_key text COLLATE "C" PRIMARY KEY,
    at_us     bigint NOT NULL,
    record    bytea NOT NULL
);

-- Privacy-reviewed reports and their append-only audit logs.
CREATE TABLE reports (
    id     text COLLATE "C" PRIMARY KEY,
    report bytea NOT NULL
);
CREATE TABLE report_audit (
    id    text COLLATE "C" NOT NULL,
    n     bigint NOT NULL,
    entry bytea NOT NULL,
    PRIMARY KEY (id, n)
);

-- Named leases: scheduled work that must run on one replica at a time.
CREATE TABLE leases (
    name     text COLLATE "C" PRIMARY KEY,
    owner    text NOT NULL,
    until_ms bigint NOT NULL
);
