-- A filled broadcast whose every trip finished is `completed` (docs/DESIGN.md, "After the
-- match"). The value is added here; the constraint that uses it is the next migration (a new
-- enum value cannot be used in the transaction that adds it).
ALTER TYPE broadcast_status ADD VALUE IF NOT EXISTS 'completed';
