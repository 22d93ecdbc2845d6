-- The hotline (SPEC D8): calls reported by the telephony system, each call's raw events, the
-- return-call (回拨) tasks that missed, abandoned and after-hours calls create, and the attempts
-- made on them. Conventions as in the foundation: BIGINT identity ids, every integer BIGINT, UTC ms.

-- The service numbers (400/800) calls arrive on, and the brand each serves (NULL: the operating
-- company's own line). An unknown number is the company's own.
CREATE TABLE hotline_lines (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    brand_id BIGINT REFERENCES brands (id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Which agent sits at which extension (分机), and the phone the platform rings first when that
-- agent clicks to call.
CREATE TABLE agent_extensions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    extension TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users (id),
    phone TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per call. state, the instants and the media URLs are derived from the set of the call's
-- events (not their arrival order) each time one arrives. caller is the normalised number (NULL
-- when withheld or not a number); caller_raw what the provider sent.
CREATE TABLE calls (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider TEXT NOT NULL,
    provider_call_id TEXT NOT NULL,
    brand_id BIGINT REFERENCES brands (id),
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    caller TEXT,
    caller_raw TEXT NOT NULL,
    called TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers (id),
    extension TEXT,
    agent_user_id BIGINT REFERENCES users (id),
    state TEXT NOT NULL CHECK (state IN ('dialing', 'ringing', 'answered', 'completed', 'missed', 'abandoned', 'voicemail')),
    ringing_at BIGINT NOT NULL,
    answered_at BIGINT,
    ended_at BIGINT,
    after_hours BIGINT NOT NULL DEFAULT 0 CHECK (after_hours IN (0, 1)),
    recording_url TEXT,
    voicemail_url TEXT,
    return_call_id BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (provider, provider_call_id)
);
CREATE INDEX calls_ringing ON calls (ringing_at, id);
CREATE INDEX calls_brand_ringing ON calls (brand_id, ringing_at);
CREATE INDEX calls_caller ON calls (caller, ringing_at);
CREATE INDEX calls_return_call ON calls (return_call_id);

-- Every event as received, raw payload kept. The provider's event id is unique: a retried
-- callback finds its event and changes nothing.
CREATE TABLE call_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id BIGINT NOT NULL REFERENCES calls (id),
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('ringing', 'answered', 'missed', 'abandoned', 'voicemail', 'ended', 'recording')),
    at BIGINT NOT NULL,
    extension TEXT,
    media_url TEXT,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (provider, event_id)
);
CREATE INDEX call_events_call ON call_events (call_id, at, id);

-- A return call owed to a caller. One open task per number and brand: later missed calls from
-- the same number are added to it (calls_count). Done when an attempt reaches the customer
-- (reached) or after max_attempts attempts (given_up); cancelled when the only call behind it
-- turned out answered (its answered event arrived late).
CREATE TABLE return_calls (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    brand_id BIGINT REFERENCES brands (id),
    call_id BIGINT NOT NULL REFERENCES calls (id),
    customer_id BIGINT REFERENCES customers (id),
    phone TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('missed', 'abandoned', 'voicemail', 'after_hours')),
    calls_count BIGINT NOT NULL DEFAULT 1,
    due_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'reached', 'given_up', 'cancelled')),
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL CHECK (max_attempts >= 1),
    assignee_id BIGINT REFERENCES users (id),
    closed_at BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX return_calls_open_phone ON return_calls (phone, COALESCE(brand_id, 0)) WHERE status = 'open';
CREATE INDEX return_calls_status_due ON return_calls (status, due_at, id);

CREATE TABLE return_call_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    return_call_id BIGINT NOT NULL REFERENCES return_calls (id),
    at BIGINT NOT NULL,
    by_user_id BIGINT REFERENCES users (id),
    outcome TEXT NOT NULL CHECK (outcome IN ('reached', 'no_answer', 'busy', 'wrong_number')),
    note TEXT
);
CREATE INDEX return_call_attempts_task ON return_call_attempts (return_call_id, at, id);
