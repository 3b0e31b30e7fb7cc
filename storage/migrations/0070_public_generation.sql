-- 0070: a counter that changes whenever anything shown on the public pages may have changed.
-- The in-process page cache (handlers/cache.py) keys its entries by this number. Triggers, not
-- calls sprinkled through the workflow, bump it, so no code path (publish, unpublish, close, erase,
-- retention, a section rename, a CLI command in another process) can forget to: the counter is
-- committed atomically with the change it announces.
CREATE TABLE public_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO public_generation (id, n) VALUES (1, 0);

CREATE TRIGGER public_gen_sub_insert AFTER INSERT ON submissions WHEN NEW.status = 'published'
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER public_gen_sub_update AFTER UPDATE ON submissions
    WHEN OLD.status = 'published' OR NEW.status = 'published'
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER public_gen_sub_delete AFTER DELETE ON submissions WHEN OLD.status = 'published'
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;

-- The approved answer is shown with a published item.
CREATE TRIGGER public_gen_answer_insert AFTER INSERT ON answers
    WHEN (SELECT status FROM submissions WHERE id = NEW.submission_id) = 'published'
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER public_gen_answer_update AFTER UPDATE ON answers
    WHEN (SELECT status FROM submissions WHERE id = NEW.submission_id) = 'published'
      OR (SELECT status FROM submissions WHERE id = OLD.submission_id) = 'published'
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER public_gen_answer_delete AFTER DELETE ON answers
    WHEN (SELECT status FROM submissions WHERE id = OLD.submission_id) = 'published'
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;

-- Section names and units appear on every item and in the board's filter.
CREATE TRIGGER public_gen_section_insert AFTER INSERT ON sections
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER public_gen_section_update AFTER UPDATE ON sections
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER public_gen_section_delete AFTER DELETE ON sections
BEGIN UPDATE public_generation SET n = n + 1 WHERE id = 1; END;
