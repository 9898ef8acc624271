-- flow_names: flow_name beside flow_id (see names), to join on flow_id.
-- Grain: flow_id.
CREATE VIEW flow_names AS
SELECT id AS flow_id, name AS flow_name, deleted
FROM names
WHERE kind = 'flow'
