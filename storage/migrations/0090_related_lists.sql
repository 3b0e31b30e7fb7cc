-- 0090: each published item's related items, computed once when it is published (issue 7).
-- An item page used to search the in-memory similarity index on its first view (1-4 ms of the one
-- NLP thread at 100k items); when first views piled up they queued there and the page's p99 went
-- past 100 ms. Now the page reads a stored list: meyasubako/related.py computes it at publication,
-- refreshes the lists of the new item's neighbours, and fills in, in the background, any published
-- item that has none (items published before this migration, or while the index was rebuilding).
-- Only ids and scores of items that are public anyway: no personal data.
CREATE TABLE public_related_lists (
    submission_id INTEGER PRIMARY KEY REFERENCES submissions(id) ON DELETE CASCADE,
    computed_at   TEXT NOT NULL,
    index_size    INTEGER NOT NULL  -- how many published items the similarity index held then
);
CREATE TABLE public_related (
    submission_id INTEGER NOT NULL REFERENCES public_related_lists(submission_id) ON DELETE CASCADE,
    rank          INTEGER NOT NULL,  -- 1 = most similar
    related_id    INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    score         REAL NOT NULL,
    PRIMARY KEY (submission_id, rank)
);
CREATE INDEX public_related_by_related ON public_related (related_id);

-- A page is cached only once its list exists (handlers/board.py), so the first list of an item
-- changes no cached page; a list computed again (a new neighbour was published) or removed does.
CREATE TRIGGER public_gen_related_update AFTER UPDATE ON public_related_lists
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER public_gen_related_delete AFTER DELETE ON public_related_lists
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;
