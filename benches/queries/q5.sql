-- A filter on one participant attribute.
SELECT count(*) FROM participants WHERE attributes['CustomerSegment'] = 'Gold'
