-- 0020: the staff tools: who set the section (learning), assignment, duplicates, review comments,
-- internal notes, answer templates, the admin audit trail, and indexes for the queue filters.

ALTER TABLE submissions ADD COLUMN routed_by TEXT;      -- 'system' or 'user:<name>': who set `section`
ALTER TABLE submissions ADD COLUMN assignee TEXT;       -- users.name of the person handling it
ALTER TABLE submissions ADD COLUMN duplicate_of TEXT;   -- receipt_no of the earlier item it repeats
ALTER TABLE answers ADD COLUMN review_comment TEXT;     -- why an approver sent the draft back

-- Internal notes: staff only, never shown to the resident or the public.
CREATE TABLE notes (
    id            INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    at            TEXT NOT NULL,
    author        TEXT NOT NULL,
    body          TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 2000)
);
CREATE INDEX notes_submission ON notes (submission_id, id);

-- Answer templates per section; the body may hold placeholders such as {受付番号}.
CREATE TABLE answer_templates (
    id         INTEGER PRIMARY KEY,
    section    TEXT NOT NULL REFERENCES sections(id),
    title      TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    body       TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 8000),
    updated_at TEXT NOT NULL,
    UNIQUE (section, title)
);

-- Changes to users and sections (the submission trail lives in `events`).
CREATE TABLE admin_audit (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    note   TEXT NOT NULL DEFAULT ''
);

-- Queue filters: section + status with newest first, deadlines, channel, and person-set sections.
CREATE INDEX submissions_section_status_id ON submissions (section, status, id DESC);
CREATE INDEX submissions_status_id ON submissions (status, id DESC);
CREATE INDEX submissions_due_open ON submissions (due_at) WHERE status NOT IN ('published', 'closed');
CREATE INDEX submissions_channel_id ON submissions (channel, id DESC);
CREATE INDEX submissions_routed_by ON submissions (routed_by) WHERE routed_by LIKE 'user:%';
-- "Deadline first" sorting orders by this exact expression (storage/queue.py SORTS["due"]).
CREATE INDEX submissions_due_sort ON submissions (COALESCE(due_at, '9999-12-31'), id);
CREATE INDEX submissions_section_due_sort ON submissions (section, COALESCE(due_at, '9999-12-31'), id);
