-- 0090 (PostgreSQL): as ../0090_related_lists.sql. Each published item's related items, computed
-- once when it is published (issue 7), so that an item page reads a list instead of searching.
CREATE TABLE public_related_lists (
    submission_id BIGINT PRIMARY KEY REFERENCES submissions(id) ON DELETE CASCADE,
    computed_at   TEXT NOT NULL,
    index_size    INTEGER NOT NULL
);
CREATE TABLE public_related (
    submission_id BIGINT NOT NULL REFERENCES public_related_lists(submission_id) ON DELETE CASCADE,
    rank          INTEGER NOT NULL,
    related_id    BIGINT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    score         DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (submission_id, rank)
);
CREATE INDEX public_related_by_related ON public_related (related_id);

-- The first list of an item changes no cached page; a list computed again or removed does.
CREATE TRIGGER public_gen_related AFTER UPDATE OR DELETE ON public_related_lists
    FOR EACH ROW EXECUTE FUNCTION public_generation_bump();
