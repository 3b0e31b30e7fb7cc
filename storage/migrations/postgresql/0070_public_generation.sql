-- 0070 (PostgreSQL): as ../0070_public_generation.sql: a counter bumped, in the same transaction,
-- by every change to what the public pages show. Every serve process's page cache reads it.
CREATE TABLE public_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO public_generation (id, n) VALUES (1, 0);

CREATE FUNCTION public_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END $$;

CREATE FUNCTION public_generation_bump_answer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP <> 'DELETE' AND (SELECT status FROM submissions WHERE id = NEW.submission_id) = 'published')
       OR (TG_OP <> 'INSERT' AND (SELECT status FROM submissions WHERE id = OLD.submission_id) = 'published') THEN
        UPDATE public_generation SET n = n + 1 WHERE id = 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER public_gen_sub_insert AFTER INSERT ON submissions
    FOR EACH ROW WHEN (NEW.status = 'published') EXECUTE FUNCTION public_generation_bump();
CREATE TRIGGER public_gen_sub_update AFTER UPDATE ON submissions
    FOR EACH ROW WHEN (OLD.status = 'published' OR NEW.status = 'published') EXECUTE FUNCTION public_generation_bump();
CREATE TRIGGER public_gen_sub_delete AFTER DELETE ON submissions
    FOR EACH ROW WHEN (OLD.status = 'published') EXECUTE FUNCTION public_generation_bump();

CREATE TRIGGER public_gen_answer AFTER INSERT OR UPDATE OR DELETE ON answers
    FOR EACH ROW EXECUTE FUNCTION public_generation_bump_answer();

CREATE TRIGGER public_gen_section AFTER INSERT OR UPDATE OR DELETE ON sections
    FOR EACH ROW EXECUTE FUNCTION public_generation_bump();
