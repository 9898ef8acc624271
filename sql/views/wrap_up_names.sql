-- wrap_up_names: wrap_up_name beside wrap_up_code (see names), to join on wrap_up_code.
-- Grain: wrap_up_code.
CREATE VIEW wrap_up_names AS
SELECT id AS wrap_up_code, name AS wrap_up_name, deleted
FROM names
WHERE kind = 'wrapup'
