-- 0010: LINE: the webhook inbox (dedup by webhookEventId, crash recovery), per-user conversation
-- state and drafts, private photo attachments, and delivery details on the outbox.

-- Every acknowledged webhook event, stored before the 200 goes back to LINE. `event_id` is LINE's
-- webhookEventId: a redelivery hits the UNIQUE constraint and is dropped. `processed_at` is set in
-- the same transaction as the event's effects, so a crash never applies an event twice.
CREATE TABLE line_inbox (
    seq            INTEGER PRIMARY KEY,
    event_id       TEXT NOT NULL UNIQUE,
    user_id        TEXT,
    type           TEXT NOT NULL,
    body_json      TEXT NOT NULL,            -- the raw event; emptied once processed (data minimization)
    redelivery     INTEGER NOT NULL DEFAULT 0 CHECK (redelivery IN (0, 1)),
    received_at    TEXT NOT NULL,
    reply_deadline TEXT,                     -- until when the reply token may still be used
    processed_at   TEXT,
    outcome        TEXT
);
CREATE INDEX line_inbox_pending ON line_inbox (user_id, seq) WHERE processed_at IS NULL;
CREATE INDEX line_inbox_received ON line_inbox (received_at);

-- One row per LINE user who has talked to the account: the conversation state.
CREATE TABLE line_users (
    user_id    TEXT PRIMARY KEY,
    blocked    INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),   -- unfollowed: no pushes
    draft_id   TEXT,                                                    -- the open draft, if any
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- A suggestion being written in the chat. Its id travels in postback data; `submitted` drafts keep
-- the link to the submission so a second tap on 送信 answers with the same 受付番号.
CREATE TABLE line_drafts (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    text          TEXT NOT NULL DEFAULT '',
    consent       INTEGER CHECK (consent IN (0, 1)),
    place         TEXT,
    lat           REAL,
    lon           REAL,
    state         TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'submitted', 'cancelled')),
    submission_id INTEGER REFERENCES submissions(id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX line_drafts_user ON line_drafts (user_id, created_at);

-- Photos sent by residents. Files live under the private files directory with random names;
-- `path` is relative to it. Never published automatically.
CREATE TABLE attachments (
    id            INTEGER PRIMARY KEY,
    submission_id INTEGER REFERENCES submissions(id),
    draft_id      TEXT REFERENCES line_drafts(id),
    kind          TEXT NOT NULL CHECK (kind IN ('image')),
    mime          TEXT NOT NULL,
    size          INTEGER NOT NULL CHECK (size >= 0),
    sha256        TEXT NOT NULL,
    path          TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    CHECK (submission_id IS NOT NULL OR draft_id IS NOT NULL)
);
CREATE INDEX attachments_submission ON attachments (submission_id) WHERE submission_id IS NOT NULL;
CREATE INDEX attachments_draft ON attachments (draft_id) WHERE draft_id IS NOT NULL;

-- How a message finally went out (reply, or push after the reply token went stale) and the last
-- HTTP status LINE answered, for the audit of deliveries.
ALTER TABLE outbox ADD COLUMN sent_via TEXT;
ALTER TABLE outbox ADD COLUMN last_status INTEGER;
CREATE INDEX outbox_recipient_pending ON outbox (recipient, id) WHERE status = 'pending';
