-- The open broadcast states, named once in SQL (BroadcastStatus::is_open names them once in Rust).
-- A plain SQL function the planner inlines, so `WHERE broadcast_is_open(status)` still uses the
-- partial indexes written with the same list.
CREATE FUNCTION broadcast_is_open(s broadcast_status) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT s IN ('active', 'partially_filled') $$;
