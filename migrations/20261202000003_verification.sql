-- The transporter verification gate (docs/DESIGN.md, "Ops"): with
-- WEELO_REQUIRE_VERIFIED_TRANSPORTERS on, only verified transporters are matched or may take
-- trucks. New transporters start pending; an admin verifies them.
ALTER TABLE users ADD COLUMN verified_at timestamptz;
ALTER TABLE users ADD COLUMN verified_by uuid REFERENCES users (id);
ALTER TABLE users ADD CONSTRAINT users_verified_by_with_time CHECK (verified_by IS NULL OR verified_at IS NOT NULL);

-- Every admin action: who, what, to whom, why, when.
CREATE TABLE admin_actions (
    id        bigserial PRIMARY KEY,
    admin_id  uuid REFERENCES users (id),
    action    text NOT NULL,
    target_id uuid,
    reason    text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_actions_target_idx ON admin_actions (target_id, at DESC);
