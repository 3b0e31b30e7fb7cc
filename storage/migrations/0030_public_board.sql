-- 0030: indexes for the public side (notice board, feeds, open data, Open311, statistics).
-- Partial indexes over published items only keep the board's pages, section filters and
-- month filters index-driven at 100k published items without touching unpublished rows.
-- answered_at and due_at ride along so the "answered by the deadline" filter reads no table rows.
CREATE INDEX public_by_published ON submissions (published_at DESC, id DESC, answered_at, due_at)
    WHERE status = 'published';
CREATE INDEX public_by_section ON submissions (section, published_at DESC, id DESC, answered_at, due_at)
    WHERE status = 'published';
CREATE INDEX public_by_received ON submissions (received_at) WHERE status = 'published';
-- Transparency statistics count every submission of a period, whatever its status: a covering
-- index, so a year of counts and medians is read from the index alone.
CREATE INDEX submissions_stats ON submissions (received_at, section, status, close_reason, answered_at);
