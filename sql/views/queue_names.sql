-- queue_names: queue_name beside queue_id (see names), to join on queue_id.
-- Grain: queue_id.
CREATE VIEW queue_names AS
SELECT id AS queue_id, name AS queue_name, deleted
FROM names
WHERE kind = 'queue'
