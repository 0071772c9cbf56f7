-- `completed` keeps every truck counted as taken, like `fully_filled`, and is final.
ALTER TABLE broadcasts DROP CONSTRAINT broadcasts_status_matches_counts;
ALTER TABLE broadcasts ADD CONSTRAINT broadcasts_status_matches_counts CHECK (
    (status = 'active' AND trucks_filled = 0)
    OR (status = 'partially_filled' AND trucks_filled BETWEEN 1 AND trucks_needed - 1)
    OR (status IN ('fully_filled', 'completed') AND trucks_filled = trucks_needed)
    OR status IN ('cancelled', 'expired'));
