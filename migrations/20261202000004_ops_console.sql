-- The ops console (docs/DESIGN.md, "Ops console"): suspended accounts and dead letters.

-- A suspended user cannot sign in, refresh or use a token; their sockets are dropped.
ALTER TABLE users ADD COLUMN suspended_at timestamptz;

-- A job that used up its attempts (or failed permanently): its payload and last error, kept
-- until an admin retries or discards it. A retry runs the job once more in the worker and
-- records how that went.
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    queue       text NOT NULL,
    payload     jsonb NOT NULL,
    error       text NOT NULL,
    attempts    int NOT NULL CHECK (attempts >= 1),
    status      text NOT NULL DEFAULT 'dead'
                CHECK (status IN ('dead', 'retry_requested', 'retried', 'discarded')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    resolved_by uuid REFERENCES users (id)
);
CREATE INDEX dead_letters_open_idx ON dead_letters (queue, id) WHERE status IN ('dead', 'retry_requested');
CREATE INDEX dead_letters_retry_idx ON dead_letters (id) WHERE status = 'retry_requested';
