-- After the match (docs/DESIGN.md, "After the match"): one trip per taken truck, from the moment a
-- vehicle and a driver are named until delivery, release or cancellation.

-- A truck request's final state after its trip delivered.
ALTER TYPE truck_request_status ADD VALUE 'delivered';

CREATE TYPE trip_status AS ENUM (
    'assigned', 'driver_accepted', 'en_route_to_pickup', 'at_pickup', 'in_transit', 'delivered',
    'driver_declined', 'driver_timeout', 'released', 'cancelled');

-- Crewed: the trip holds its vehicle and its driver. Unfinished: the trip is still going
-- (crewed, or waiting for its transporter to staff it again).
CREATE FUNCTION trip_is_crewed(s trip_status) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT s IN ('assigned', 'driver_accepted', 'en_route_to_pickup', 'at_pickup', 'in_transit') $$;
CREATE FUNCTION trip_is_unfinished(s trip_status) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT s NOT IN ('delivered', 'released', 'cancelled') $$;

CREATE TABLE trips (
    id               uuid PRIMARY KEY,
    truck_request_id uuid NOT NULL REFERENCES truck_requests (id) ON DELETE CASCADE,
    broadcast_id     uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    transporter_id   uuid NOT NULL REFERENCES users (id),
    -- The crew while crewed; kept afterwards as the last crew, for history.
    vehicle_id       uuid NOT NULL REFERENCES vehicles (id),
    driver_id        uuid NOT NULL REFERENCES users (id),
    status           trip_status NOT NULL DEFAULT 'assigned',
    -- The driver must answer by then (assigned), or the transporter staff it again (declined, timeout).
    respond_by       timestamptz,
    restaff_by       timestamptz,
    -- What the driver said when declining.
    decline_note     text CHECK (decline_note IS NULL OR length(decline_note) BETWEEN 1 AND 500),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CONSTRAINT trips_finished_has_time CHECK (trip_is_unfinished(status) = (finished_at IS NULL)),
    CONSTRAINT trips_assigned_has_deadline CHECK (status <> 'assigned' OR respond_by IS NOT NULL),
    CONSTRAINT trips_restaff_has_deadline CHECK (status NOT IN ('driver_declined', 'driver_timeout') OR restaff_by IS NOT NULL)
);
-- Invariant 1 (trips): a vehicle, a driver, a truck on at most one unfinished trip.
CREATE UNIQUE INDEX trips_one_per_vehicle ON trips (vehicle_id) WHERE trip_is_crewed(status);
CREATE UNIQUE INDEX trips_one_per_driver ON trips (driver_id) WHERE trip_is_crewed(status);
CREATE UNIQUE INDEX trips_one_per_truck ON trips (truck_request_id) WHERE trip_is_unfinished(status);
CREATE INDEX trips_driver_idx ON trips (driver_id, created_at DESC, id DESC);
CREATE INDEX trips_broadcast_idx ON trips (broadcast_id);

-- A vehicle is in at most one taken truck.
CREATE UNIQUE INDEX truck_requests_one_taken_per_vehicle ON truck_requests (vehicle_id)
    WHERE status IN ('accepted', 'assigned');

-- A taken truck keeps its transporter; its vehicle may be gone while it waits to be staffed again.
ALTER TABLE truck_requests DROP CONSTRAINT truck_requests_taken_has_owner;
ALTER TABLE truck_requests ADD CONSTRAINT truck_requests_taken_has_owner CHECK (
    (status IN ('accepted', 'assigned')) <= (transporter_id IS NOT NULL AND accepted_at IS NOT NULL));
ALTER TABLE truck_requests ADD CONSTRAINT truck_requests_assigned_has_vehicle CHECK (
    status <> 'assigned' OR vehicle_id IS NOT NULL);

-- Every transition of a trip, so its log replays to its state (invariant 4).
CREATE TABLE trip_transitions (
    id          bigserial PRIMARY KEY,
    trip_id     uuid NOT NULL REFERENCES trips (id) ON DELETE CASCADE,
    from_status trip_status,
    to_status   trip_status NOT NULL,
    actor_id    uuid,
    actor_role  text NOT NULL,
    reason      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trip_transitions_trip_idx ON trip_transitions (trip_id, id);

-- Invariant 2: a vehicle is on_trip exactly while a taken truck holds it. Checked at commit, so
-- a transaction may move the vehicle and the truck in either order.
CREATE FUNCTION vehicles_on_trip_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    v uuid;
    bad uuid;
    touched uuid[];
BEGIN
    IF TG_TABLE_NAME = 'vehicles' THEN
        touched := ARRAY[NEW.id];
    ELSIF TG_OP = 'UPDATE' THEN
        touched := ARRAY[NEW.vehicle_id, OLD.vehicle_id];
    ELSE
        touched := ARRAY[NEW.vehicle_id];
    END IF;
    FOREACH v IN ARRAY touched
    LOOP
        CONTINUE WHEN v IS NULL;
        SELECT id INTO bad FROM vehicles
        WHERE id = v AND (status = 'on_trip') <> EXISTS (
            SELECT 1 FROM truck_requests WHERE vehicle_id = v AND status IN ('accepted', 'assigned'));
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'vehicle % is on_trip without a taken truck, or holds one while not on_trip', bad
                USING ERRCODE = '23514', CONSTRAINT = 'vehicles_on_trip_matches_trucks';
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER vehicles_on_trip_matches_trucks AFTER UPDATE OF status ON vehicles
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION vehicles_on_trip_check();
CREATE CONSTRAINT TRIGGER truck_requests_on_trip_matches_vehicles AFTER INSERT OR UPDATE OF status, vehicle_id ON truck_requests
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION vehicles_on_trip_check();

