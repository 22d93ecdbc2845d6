-- Background work: the job queue and the outbox of messages that leave the system.
--
-- jobs: claimed with a lease. While a job is running, run_at holds the end of its lease, so one
-- condition (state pending or running, run_at come) finds both due jobs and jobs whose worker
-- died, and the partial index jobs_due serves it in run_at order however many jobs are done.
-- Once done or dead, run_at holds the time it finished, which is what the sweeper deletes done
-- jobs by (they are kept 7 days), through (state, run_at). lease_owner names the worker holding
-- the lease, and after the end the one that finished it. dedupe_key makes an enqueue happen once
-- (NULL: no deduplication).
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    run_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 10 CHECK (max_attempts >= 1),
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    dedupe_key TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_state_run_at ON jobs (state, run_at);
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state IN ('pending', 'running');

-- outbox: one row per message to a customer, a brand or a partner system, written in the same
-- transaction as the change that causes it and delivered by a deliver_outbox job. status:
-- pending (not delivered yet, maybe retrying), sent, failed (refused for good), dead (retries
-- exhausted).
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL CHECK (channel IN ('webhook', 'sms', 'email', 'wechat', 'wecom')),
    recipient TEXT NOT NULL,
    template TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    provider_ref TEXT,
    ref_entity TEXT,
    ref_id INTEGER,
    brand_id INTEGER REFERENCES brands (id),
    created_at INTEGER NOT NULL,
    sent_at INTEGER
) STRICT;
CREATE INDEX outbox_status ON outbox (status, id);
CREATE INDEX outbox_ref ON outbox (ref_entity, ref_id);
CREATE INDEX outbox_brand ON outbox (brand_id, id);
