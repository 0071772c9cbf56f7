-- A truck reserved by a hold (docs/DESIGN.md, "Holds"). Its own migration: a new enum value
-- cannot be used in the transaction that adds it.
ALTER TYPE truck_request_status ADD VALUE 'held';
