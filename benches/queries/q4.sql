-- Top ten agents by handled conversations.
SELECT user_id, count(DISTINCT conversation_id) AS handled FROM metrics WHERE name = 'tHandle'
GROUP BY 1 ORDER BY handled DESC, user_id LIMIT 10
