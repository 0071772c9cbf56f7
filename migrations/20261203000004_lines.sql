-- A line is (type, subtype, price) (docs/DESIGN.md, "Lines"): accepts and holds name the line
-- they take, and a vehicle must be the line's type and subtype.

-- A hold holds trucks of one line.
ALTER TABLE truck_holds ADD COLUMN line_no integer CHECK (line_no >= 0);
UPDATE truck_holds h SET line_no = coalesce(
    (SELECT min(tr.line_no) FROM truck_requests tr WHERE tr.hold_id = h.id OR tr.id = ANY (h.confirmed_trucks)),
    (SELECT min(tr.line_no) FROM truck_requests tr WHERE tr.broadcast_id = h.broadcast_id AND tr.vehicle_type = h.vehicle_type),
    0);
ALTER TABLE truck_holds ALTER COLUMN line_no SET NOT NULL;

-- A held truck belongs to its hold's line.
CREATE FUNCTION truck_requests_held_on_line() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.hold_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM truck_holds h WHERE h.id = NEW.hold_id AND h.line_no = NEW.line_no) THEN
        RAISE EXCEPTION 'truck % of line % held by a hold of another line', NEW.id, NEW.line_no
            USING ERRCODE = 'check_violation', CONSTRAINT = 'truck_requests_held_on_line';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER truck_requests_held_on_line BEFORE UPDATE OF hold_id ON truck_requests
    FOR EACH ROW WHEN (NEW.hold_id IS DISTINCT FROM OLD.hold_id) EXECUTE FUNCTION truck_requests_held_on_line();

-- A truck is taken only by a vehicle of its line's type and subtype.
CREATE FUNCTION truck_requests_vehicle_fits_line() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.vehicle_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM vehicles v
        WHERE v.id = NEW.vehicle_id AND v.vehicle_type = NEW.vehicle_type AND v.vehicle_subtype = NEW.vehicle_subtype) THEN
        RAISE EXCEPTION 'vehicle % does not fit line % (% %) of truck %',
            NEW.vehicle_id, NEW.line_no, NEW.vehicle_type, NEW.vehicle_subtype, NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'truck_requests_vehicle_fits_line';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER truck_requests_vehicle_fits_line BEFORE UPDATE OF vehicle_id ON truck_requests
    FOR EACH ROW WHEN (NEW.vehicle_id IS DISTINCT FROM OLD.vehicle_id) EXECUTE FUNCTION truck_requests_vehicle_fits_line();

-- A line's trucks are claimed by line.
CREATE INDEX truck_requests_line_idx ON truck_requests (broadcast_id, line_no, status, seq);
