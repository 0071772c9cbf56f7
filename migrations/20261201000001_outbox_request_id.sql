-- The request that wrote an outbox row, so one create can be followed into every job it caused.
ALTER TABLE outbox ADD COLUMN request_id text;
