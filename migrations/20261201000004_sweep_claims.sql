-- The sweep runs from each worker's own tick loop: the first worker to insert a tick runs it; the
-- others count their claim, so a test can see every worker competed and one ran.
ALTER TABLE sweep_runs ADD COLUMN claims integer NOT NULL DEFAULT 1;
