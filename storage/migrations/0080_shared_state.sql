-- 0080: state that several serve processes on one database must share (issue 8).
-- shared_state: a value computed once and read by every process, with a generation number that
-- processes poll (the router's learned model: trained by one process, loaded by all).
CREATE TABLE shared_state (
    name       TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    body       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- job_runs: a scheduled job claims its period (e.g. the JST day) before it runs, so that of all
-- the processes woken at the same hour exactly one runs it.
CREATE TABLE job_runs (
    name        TEXT NOT NULL,
    period      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT,
    PRIMARY KEY (name, period)
);
