-- One row per sweep tick: proof that the cron sweep runs once per tick across all workers.
CREATE TABLE sweep_runs (
    tick    bigint PRIMARY KEY,
    runs    integer NOT NULL DEFAULT 1,
    expired integer NOT NULL DEFAULT 0,
    worker  text NOT NULL,
    ran_at  timestamptz NOT NULL DEFAULT now()
);
