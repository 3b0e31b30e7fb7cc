-- 0040: retention and residents' requests (個人情報保護法).
-- erased_at: when the personal data of a submission was erased (retention or the resident's request);
-- the row itself stays for the statistics and the published record.
ALTER TABLE submissions ADD COLUMN erased_at TEXT;

-- The 個人情報 officer's ledger: every erasure and disclosure, who did it, why, and how much —
-- never the personal data itself. Receipt numbers are not personal data.
CREATE TABLE privacy_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,                 -- 'system' (retention) or 'user:<name>'
    action      TEXT NOT NULL CHECK (action IN ('erase', 'disclose')),
    reason      TEXT NOT NULL,                 -- 'retention' or 'request', plus the officer's reference
    receipts    TEXT NOT NULL DEFAULT '',      -- receipt numbers concerned, space separated
    detail_json TEXT NOT NULL DEFAULT '{}'     -- counts per kind of data
);
CREATE INDEX privacy_log_at ON privacy_log (at DESC);

-- Erasure and disclosure look rows up by these; without indexes each erased item would scan them.
CREATE INDEX privacy_outbox_submission ON outbox (submission_id) WHERE submission_id IS NOT NULL;
CREATE INDEX privacy_outbox_recipient ON outbox (recipient);
CREATE INDEX privacy_submissions_contact ON submissions (contact) WHERE contact IS NOT NULL;
