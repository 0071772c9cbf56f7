-- OTP abuse limits (docs/DESIGN.md, "Sign-in"): wrong codes are counted per challenge so a
-- phone's failures can be summed across its codes, and a phone's codes are counted across roles.
ALTER TABLE otp_challenges ADD COLUMN failed integer NOT NULL DEFAULT 0 CHECK (failed >= 0);
-- A challenge made for a phone that cannot sign in (an unknown driver or admin) is stored like
-- any other, so the answer and the limits are the same, but its code is never sent.
ALTER TABLE otp_challenges ADD COLUMN decoy boolean NOT NULL DEFAULT false;
CREATE INDEX otp_challenges_phone_idx ON otp_challenges (phone, created_at DESC);
