-- 0060 (PostgreSQL): as ../0060_session_epoch.sql.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
