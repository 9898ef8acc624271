-- division_names: division_name beside division_id (see names), to join on division_id.
-- Grain: division_id.
CREATE VIEW division_names AS
SELECT id AS division_id, name AS division_name, deleted
FROM names
WHERE kind = 'division'
