-- Holds (docs/DESIGN.md, "Holds"): a transporter reserves trucks of one line for a short window,
-- then confirms them all as trips or gives them back.
CREATE TYPE hold_status AS ENUM ('active', 'confirmed', 'released', 'expired', 'cancelled');

CREATE TABLE truck_holds (
    id             uuid PRIMARY KEY,
    broadcast_id   uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    transporter_id uuid NOT NULL REFERENCES users (id),
    vehicle_type   vehicle_type NOT NULL,
    requested      integer NOT NULL CHECK (requested BETWEEN 1 AND 20),
    -- How many trucks it got (a partial hold holds fewer than requested).
    held           integer NOT NULL CHECK (held >= 1 AND held <= requested),
    status         hold_status NOT NULL DEFAULT 'active',
    expires_at     timestamptz NOT NULL,
    extensions     integer NOT NULL DEFAULT 0 CHECK (extensions BETWEEN 0 AND 2),
    -- The trucks it turned into trips, once confirmed.
    confirmed_trucks uuid[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz,
    CONSTRAINT truck_holds_ended_has_time CHECK ((status = 'active') = (ended_at IS NULL))
);
CREATE INDEX truck_holds_transporter_idx ON truck_holds (transporter_id, created_at DESC) WHERE status = 'active';
CREATE INDEX truck_holds_due_idx ON truck_holds (expires_at) WHERE status = 'active';
CREATE INDEX truck_holds_broadcast_idx ON truck_holds (broadcast_id);

-- Invariant 1 (holds): a truck is held by at most one hold at a time (one column), and only a
-- held truck names a hold. A held truck is not searching, so no accept's claim can take it.
ALTER TABLE truck_requests ADD COLUMN hold_id uuid REFERENCES truck_holds (id);
ALTER TABLE truck_requests ADD CONSTRAINT truck_requests_held_has_hold CHECK ((status = 'held') = (hold_id IS NOT NULL));
CREATE INDEX truck_requests_hold_idx ON truck_requests (hold_id) WHERE hold_id IS NOT NULL;

-- A hold never outlives its broadcast's deadline.
CREATE FUNCTION truck_holds_within_deadline() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'active' AND NEW.expires_at > (SELECT expires_at FROM broadcasts WHERE id = NEW.broadcast_id) THEN
        RAISE EXCEPTION 'hold % would outlive its broadcast''s deadline', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'truck_holds_within_deadline';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER truck_holds_within_deadline BEFORE INSERT OR UPDATE ON truck_holds
    FOR EACH ROW EXECUTE FUNCTION truck_holds_within_deadline();
