-- 0030 (PostgreSQL): as ../0030_public_board.sql.
CREATE INDEX public_by_published ON submissions (published_at DESC, id DESC, answered_at, due_at)
    WHERE status = 'published';
CREATE INDEX public_by_section ON submissions (section, published_at DESC, id DESC, answered_at, due_at)
    WHERE status = 'published';
CREATE INDEX public_by_received ON submissions (received_at) WHERE status = 'published';
CREATE INDEX submissions_stats ON submissions (received_at, section, status, close_reason, answered_at);
