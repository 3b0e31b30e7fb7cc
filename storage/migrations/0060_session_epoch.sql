-- 0060: server-side revocation of staff sessions. Sessions live in an encrypted cookie; each carries
-- the user's session_epoch at login. Logging out (or disabling a user / resetting a password) bumps
-- the epoch, so every copy of an older cookie stops working at once (OWASP ASVS 3.3.1).
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
