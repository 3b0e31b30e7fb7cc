-- 0050 (PostgreSQL): as ../0050_board_indexes.sql.
CREATE INDEX submissions_board ON submissions (published_at DESC, id DESC) WHERE status = 'published';
CREATE INDEX submissions_board_section ON submissions (section, published_at DESC, id DESC)
    WHERE status = 'published';
DROP INDEX IF EXISTS submissions_published;
