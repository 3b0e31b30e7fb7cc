-- 0050: indexes that let the notice board read its page straight off an index.
-- The board orders published items by (published_at DESC, id DESC). The index from 0001 covers
-- only published_at, so SQLite sorted every published row in a temporary B-tree for each page
-- view: ~80 ms per page with 100k published items (bench/bench_reads.py). With the tie-breaker in
-- the index a page is a walk of 20 index entries (~0.1 ms); the section filter gets the same.
CREATE INDEX submissions_board ON submissions (published_at DESC, id DESC) WHERE status = 'published';
CREATE INDEX submissions_board_section ON submissions (section, published_at DESC, id DESC)
    WHERE status = 'published';
-- Superseded by submissions_board (same rows, one more column): drop it so writes maintain one index.
DROP INDEX IF EXISTS submissions_published;
