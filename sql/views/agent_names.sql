-- agent_names: agent_name beside user_id (see names), to join on user_id.
-- Grain: user_id.
CREATE VIEW agent_names AS
SELECT id AS user_id, name AS agent_name, deleted
FROM names
WHERE kind = 'user'
