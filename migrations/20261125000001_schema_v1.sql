-- Schema v1: users and their sessions. Timestamps are timestamptz, ids UUID, enums Postgres enums.

CREATE TYPE user_role AS ENUM ('customer', 'transporter', 'driver', 'admin');

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    phone          text NOT NULL CHECK (phone ~ '^\+91[6-9][0-9]{9}$'),
    role           user_role NOT NULL,
    name           text CHECK (name IS NULL OR length(name) BETWEEN 1 AND 120),
    -- A driver belongs to exactly one transporter; nobody else belongs to anyone.
    transporter_id uuid REFERENCES users (id) ON DELETE RESTRICT,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_phone_role_unique UNIQUE (phone, role),
    CONSTRAINT users_driver_has_transporter CHECK ((role = 'driver') = (transporter_id IS NOT NULL))
);
CREATE INDEX users_transporter_idx ON users (transporter_id) WHERE transporter_id IS NOT NULL;

-- One-time passwords, stored as an HMAC of the code; never the code itself.
CREATE TABLE otp_challenges (
    id          uuid PRIMARY KEY,
    phone       text NOT NULL,
    role        user_role NOT NULL,
    code_hash   text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    expires_at  timestamptz NOT NULL,
    consumed_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otp_challenges_lookup_idx ON otp_challenges (phone, role, created_at DESC);

CREATE TYPE device_platform AS ENUM ('android', 'ios', 'web');

CREATE TABLE device_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token      text NOT NULL CHECK (length(token) BETWEEN 1 AND 4096),
    platform   device_platform NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT device_tokens_token_unique UNIQUE (token)
);
CREATE INDEX device_tokens_user_idx ON device_tokens (user_id);

-- Refresh tokens rotate inside a family; presenting a rotated one revokes the family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    CONSTRAINT refresh_tokens_hash_unique UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
