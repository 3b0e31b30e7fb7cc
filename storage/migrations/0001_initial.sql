-- 0001: the whole path on the web: sections, submissions with their audit trail,
-- answers, staff users, the outbox, and full-text indexes.

CREATE TABLE sections (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    unit          TEXT NOT NULL DEFAULT '',
    scope         TEXT NOT NULL DEFAULT '',
    deadline_days INTEGER NOT NULL DEFAULT 10 CHECK (deadline_days BETWEEN 1 AND 365),
    position      INTEGER NOT NULL DEFAULT 0,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);

-- One row per (JST) year; `last` only ever grows, so a receipt number is never handed out twice.
CREATE TABLE receipt_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL CHECK (last >= 0)
);

CREATE TABLE submissions (
    id                INTEGER PRIMARY KEY,
    receipt_no        TEXT NOT NULL UNIQUE,
    channel           TEXT NOT NULL CHECK (channel IN ('web', 'line', 'open311')),
    client_key        TEXT UNIQUE,            -- idempotency key of the intake (form nonce, webhookEventId ...)
    text              TEXT NOT NULL,
    place             TEXT,
    lat               REAL,
    lon               REAL,
    contact           TEXT,
    line_user_id      TEXT,
    consent           INTEGER NOT NULL CHECK (consent IN (0, 1)),
    status            TEXT NOT NULL CHECK (status IN
                        ('received', 'routed', 'in_progress', 'answered', 'approved', 'published', 'closed')),
    section           TEXT REFERENCES sections(id),
    suggested_section TEXT,
    suggestion_json   TEXT NOT NULL DEFAULT '{}',   -- {"top": [[id, score]...], "reasons": [...], "confident": bool}
    pii_json          TEXT NOT NULL DEFAULT '[]',   -- [{"start", "end", "type"}] into `text`
    masked_text       TEXT,
    terms             TEXT NOT NULL DEFAULT '',     -- normalized tokens of `text`, space separated (staff search)
    public_summary    TEXT,                         -- the 要旨 a person approved for publication
    close_reason      TEXT,
    status_token_hash TEXT NOT NULL UNIQUE,         -- sha256 of the resident's private status link token
    received_at       TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    due_at            TEXT,
    answered_at       TEXT,
    published_at      TEXT
);
CREATE INDEX submissions_status_received ON submissions (status, received_at DESC);
CREATE INDEX submissions_section_received ON submissions (section, received_at DESC);
CREATE INDEX submissions_published ON submissions (published_at DESC) WHERE status = 'published';
CREATE INDEX submissions_line_user ON submissions (line_user_id) WHERE line_user_id IS NOT NULL;

-- The audit trail: every change to a submission, with who, when and from -> to.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,          -- 'resident', 'system', or 'user:<name>'
    action        TEXT NOT NULL,
    from_status   TEXT,
    to_status     TEXT,
    note          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_submission ON events (submission_id, id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'approver', 'staff')),
    section       TEXT REFERENCES sections(id),
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    TEXT NOT NULL,
    last_login_at TEXT,
    CHECK (role != 'staff' OR section IS NOT NULL)
);

CREATE TABLE answers (
    id            INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL UNIQUE REFERENCES submissions(id),
    body          TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'submitted', 'approved', 'rejected')),
    author        TEXT NOT NULL,
    approver      TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- Outbound messages (LINE reply/push). Written in the same transaction as the change that causes them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL CHECK (channel IN ('line')),
    kind            TEXT NOT NULL CHECK (kind IN ('reply', 'push')),
    recipient       TEXT NOT NULL,
    payload_json    TEXT NOT NULL,
    retry_key       TEXT NOT NULL UNIQUE,   -- X-Line-Retry-Key: the same on every attempt of one message
    reply_token     TEXT,
    reply_deadline  TEXT,
    submission_id   INTEGER REFERENCES submissions(id),
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

-- Full-text search over normalized Sudachi terms (space separated). Two indexes on purpose:
-- staff search the original text, the public only what was published (要旨 + answer), so a public
-- search can never reveal words of an unpublished original.
CREATE VIRTUAL TABLE staff_fts USING fts5(terms, tokenize = 'unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE public_fts USING fts5(terms, tokenize = 'unicode61 remove_diacritics 0');
