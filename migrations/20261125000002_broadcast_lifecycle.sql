-- Broadcast lifecycle: fleet, broadcasts and their truck requests, the transition log,
-- notifications and declines, idempotency records and the outbox.

CREATE TYPE vehicle_type AS ENUM ('mini', 'lcv', 'tipper', 'container', 'trailer', 'tanker', 'bulker', 'open', 'dumper', 'tractor');
CREATE TYPE vehicle_status AS ENUM ('available', 'on_trip', 'maintenance', 'inactive');
CREATE TYPE broadcast_status AS ENUM ('active', 'partially_filled', 'fully_filled', 'cancelled', 'expired');
CREATE TYPE truck_request_status AS ENUM ('searching', 'accepted', 'assigned', 'cancelled', 'expired');

CREATE TABLE vehicles (
    id                  uuid PRIMARY KEY,
    transporter_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    registration_number text NOT NULL CHECK (registration_number ~ '^[A-Z]{2}[0-9]{1,2}[A-Z]{0,3}[0-9]{4}$'),
    vehicle_type        vehicle_type NOT NULL,
    vehicle_subtype     text NOT NULL CHECK (vehicle_subtype ~ '^[a-z0-9_]{1,40}$'),
    status              vehicle_status NOT NULL DEFAULT 'available',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT vehicles_registration_unique UNIQUE (registration_number)
);
CREATE INDEX vehicles_transporter_idx ON vehicles (transporter_id, vehicle_type, status);

CREATE TABLE broadcasts (
    id              uuid PRIMARY KEY,
    customer_id     uuid NOT NULL REFERENCES users (id),
    status          broadcast_status NOT NULL DEFAULT 'active',
    pickup_lat      double precision NOT NULL CHECK (pickup_lat BETWEEN 6.5 AND 37),
    pickup_lng      double precision NOT NULL CHECK (pickup_lng BETWEEN 68 AND 97.5),
    pickup_address  text NOT NULL,
    pickup_city     text,
    drop_lat        double precision NOT NULL CHECK (drop_lat BETWEEN 6.5 AND 37),
    drop_lng        double precision NOT NULL CHECK (drop_lng BETWEEN 68 AND 97.5),
    drop_address    text NOT NULL,
    drop_city       text,
    distance_km     double precision NOT NULL CHECK (distance_km >= 0.5),
    trucks_needed   integer NOT NULL CHECK (trucks_needed BETWEEN 1 AND 1000),
    trucks_filled   integer NOT NULL DEFAULT 0,
    expires_at      timestamptz NOT NULL,
    terminal_reason text,
    cancel_note     text,
    radius_step     integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    CONSTRAINT broadcasts_filled_in_range CHECK (trucks_filled BETWEEN 0 AND trucks_needed),
    -- The status agrees with the counts, and only terminal broadcasts carry a reason.
    CONSTRAINT broadcasts_status_matches_counts CHECK (
        (status = 'active' AND trucks_filled = 0)
        OR (status = 'partially_filled' AND trucks_filled BETWEEN 1 AND trucks_needed - 1)
        OR (status = 'fully_filled' AND trucks_filled = trucks_needed)
        OR status IN ('cancelled', 'expired')),
    CONSTRAINT broadcasts_terminal_has_reason CHECK (
        (status IN ('active', 'partially_filled')) = (terminal_reason IS NULL AND closed_at IS NULL))
);
-- Invariant 1: one open broadcast per customer.
CREATE UNIQUE INDEX broadcasts_one_open_per_customer ON broadcasts (customer_id)
    WHERE status IN ('active', 'partially_filled');
CREATE INDEX broadcasts_customer_history_idx ON broadcasts (customer_id, created_at DESC, id DESC);
CREATE INDEX broadcasts_open_expiry_idx ON broadcasts (expires_at) WHERE status IN ('active', 'partially_filled');

CREATE TABLE truck_requests (
    id              uuid PRIMARY KEY,
    broadcast_id    uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    line_no         integer NOT NULL CHECK (line_no >= 0),
    seq             integer NOT NULL CHECK (seq >= 0),
    vehicle_type    vehicle_type NOT NULL,
    vehicle_subtype text NOT NULL,
    price_per_truck integer NOT NULL CHECK (price_per_truck > 0),
    status          truck_request_status NOT NULL DEFAULT 'searching',
    transporter_id  uuid REFERENCES users (id),
    vehicle_id      uuid REFERENCES vehicles (id),
    driver_id       uuid REFERENCES users (id),
    accepted_at     timestamptz,
    assigned_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT truck_requests_seq_unique UNIQUE (broadcast_id, seq),
    CONSTRAINT truck_requests_taken_has_owner CHECK (
        (status IN ('accepted', 'assigned'))
        = (transporter_id IS NOT NULL AND vehicle_id IS NOT NULL AND accepted_at IS NOT NULL)),
    CONSTRAINT truck_requests_assigned_has_driver CHECK (status <> 'assigned' OR driver_id IS NOT NULL)
);
CREATE INDEX truck_requests_broadcast_idx ON truck_requests (broadcast_id, vehicle_type, status, seq);
CREATE INDEX truck_requests_transporter_idx ON truck_requests (transporter_id, accepted_at DESC) WHERE transporter_id IS NOT NULL;

-- Every transition of a broadcast or of one of its truck requests.
CREATE TABLE broadcast_transitions (
    id               bigserial PRIMARY KEY,
    broadcast_id     uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    truck_request_id uuid REFERENCES truck_requests (id) ON DELETE CASCADE,
    from_status      text,
    to_status        text NOT NULL,
    actor_id         uuid,
    actor_role       text NOT NULL,
    reason           text NOT NULL,
    at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX broadcast_transitions_broadcast_idx ON broadcast_transitions (broadcast_id, id);

-- Which transporters were told about a broadcast (written by the matching worker).
CREATE TABLE broadcast_notifications (
    broadcast_id   uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    transporter_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    radius_step    integer NOT NULL,
    distance_km    double precision,
    notified_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (broadcast_id, transporter_id)
);
CREATE INDEX broadcast_notifications_transporter_idx ON broadcast_notifications (transporter_id, notified_at DESC);

CREATE TABLE broadcast_declines (
    broadcast_id   uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    transporter_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    declined_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (broadcast_id, transporter_id)
);

-- Invariant 2: a key is claimed inside the transaction that does the work, so a concurrent
-- request with the same key waits on the primary key and then reads the stored response.
CREATE TABLE idempotency_records (
    user_id      uuid NOT NULL,
    scope        text NOT NULL,
    key          uuid NOT NULL,
    request_hash text NOT NULL,
    status_code  integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, scope, key)
);
CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_at);

-- Written in the same transaction as each state change; the worker turns rows into jobs.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    payload       jsonb NOT NULL,
    available_at  timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    dispatched_at timestamptz,
    attempts      integer NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE dispatched_at IS NULL;
