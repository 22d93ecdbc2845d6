-- The service desk (issue 4, SPEC D1–D11): tickets (受理单) with one owner at every moment, their
-- history, replies and internal notes, the signed resolution plan in parts, compensation records,
-- negative-review recovery, human numbers per business day, and ticket entries on timelines.
--
-- tickets: owner_user_id / owner_queue_id — exactly one is set while the row exists (D3, checked
-- here and by domain::ticket). tracker_user_id is the named tracker (首问负责人). round counts the
-- trips to a department; the plan of the current round is the ticket's plan. access_key_hash is
-- the SHA-256 of the key in the requester's signed status link.
CREATE TABLE tickets (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    brand_id BIGINT REFERENCES brands (id),
    kind TEXT NOT NULL CHECK (kind IN ('consultation', 'complaint', 'repair_request', 'installation_request', 'return_exchange', 'suggestion')),
    channel TEXT NOT NULL CHECK (channel IN ('phone', 'web_form', 'dealer_portal', 'api', 'email', 'walk_in', 'wechat')),
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status TEXT NOT NULL CHECK (status IN ('open', 'routed', 'accepted', 'plan_signed', 'plan_returned', 'in_progress', 'waiting_on_customer', 'resolved', 'confirmed', 'closed', 'merged', 'cancelled')),
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers (id),
    requester_id BIGINT REFERENCES customers (id),
    dealer_id BIGINT REFERENCES customers (id),
    device_id BIGINT REFERENCES devices (id),
    contact_name TEXT,
    contact_phone TEXT,
    contact_email TEXT,
    owner_user_id BIGINT REFERENCES users (id),
    owner_queue_id BIGINT REFERENCES org_units (id),
    tracker_user_id BIGINT REFERENCES users (id),
    department_id BIGINT REFERENCES org_units (id),
    paused_from TEXT,
    round BIGINT NOT NULL DEFAULT 0,
    urges BIGINT NOT NULL DEFAULT 0,
    last_urged_at BIGINT,
    settled_at BIGINT,
    work_order_id BIGINT,
    merged_into BIGINT REFERENCES tickets (id),
    complaint_category TEXT CHECK (complaint_category IN ('express_delivery', 'shipping', 'service_attitude', 'product', 'product_quality', 'engineer_conduct', 'hotline')),
    liability TEXT CHECK (liability IN ('product_defect', 'dealer', 'logistics', 'installation', 'customer_misuse', 'undetermined')),
    remedy TEXT CHECK (remedy IN ('resend_parts', 'repair', 'remake')),
    cost_allocation TEXT,
    plan_committed_at BIGINT,
    remote_outcome TEXT CHECK (remote_outcome IN ('solved', 'converted')),
    pre_diagnosis TEXT,
    parts_list TEXT,
    first_reply_at BIGINT,
    informed_at BIGINT,
    confirmed_at BIGINT,
    escalated_at BIGINT,
    source_call_id BIGINT,
    access_key_hash TEXT,
    created_by BIGINT REFERENCES users (id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at BIGINT,
    CHECK ((owner_user_id IS NULL) <> (owner_queue_id IS NULL))
);
CREATE INDEX tickets_owner_user ON tickets (owner_user_id, status) WHERE owner_user_id IS NOT NULL;
CREATE INDEX tickets_owner_queue ON tickets (owner_queue_id, status) WHERE owner_queue_id IS NOT NULL;
CREATE INDEX tickets_tracker ON tickets (tracker_user_id, status);
CREATE INDEX tickets_customer ON tickets (customer_id, status);
CREATE INDEX tickets_requester ON tickets (requester_id, status);
CREATE INDEX tickets_dealer ON tickets (dealer_id, status) WHERE dealer_id IS NOT NULL;
CREATE INDEX tickets_device ON tickets (device_id) WHERE device_id IS NOT NULL;
CREATE INDEX tickets_brand ON tickets (brand_id, id);
CREATE INDEX tickets_status ON tickets (status, id);
CREATE INDEX tickets_created ON tickets (created_at, id);

-- The whole history: every accepted event with the status and owner it left behind.
CREATE TABLE ticket_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    brand_id BIGINT REFERENCES brands (id),
    at BIGINT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    actor_label TEXT,
    event TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    owner_user_id BIGINT,
    owner_queue_id BIGINT,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);
CREATE INDEX ticket_events_kind ON ticket_events (event, at);

-- Replies go to the requester; internal notes stay inside; inbound is what the requester sent.
CREATE TABLE ticket_messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    brand_id BIGINT REFERENCES brands (id),
    at BIGINT NOT NULL,
    author_id BIGINT REFERENCES users (id),
    author_label TEXT,
    visibility TEXT NOT NULL CHECK (visibility IN ('reply', 'internal', 'inbound')),
    channel TEXT NOT NULL CHECK (channel IN ('phone', 'web_form', 'dealer_portal', 'api', 'email', 'walk_in', 'wechat', 'desk')),
    body TEXT NOT NULL,
    email_message_id TEXT UNIQUE,
    in_reply_to TEXT
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, id);

-- Attachments: the bytes live in the data folder's files/ under their SHA-256 (content-addressed,
-- written before the row); the row names them.
CREATE TABLE ticket_attachments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    message_id BIGINT REFERENCES ticket_messages (id),
    brand_id BIGINT REFERENCES brands (id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id, id);

-- One department's part of the plan of a round (处理方案).
CREATE TABLE ticket_plan_parts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    round BIGINT NOT NULL,
    department_id BIGINT NOT NULL REFERENCES org_units (id),
    summary TEXT NOT NULL,
    remedy TEXT CHECK (remedy IN ('resend_parts', 'repair', 'remake')),
    committed_at BIGINT NOT NULL,
    signed_by BIGINT REFERENCES users (id),
    signed_at BIGINT,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    UNIQUE (ticket_id, round, department_id)
);

-- Compensation on a complaint (D5), fen; a complaint closes only when none is open.
CREATE TABLE compensations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    brand_id BIGINT REFERENCES brands (id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    payer TEXT NOT NULL CHECK (payer IN ('company', 'manufacturer', 'insurer')),
    status TEXT NOT NULL CHECK (status IN ('proposed', 'approved', 'paid', 'cancelled')),
    reason TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    approved_by BIGINT REFERENCES users (id),
    paid_at BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX compensations_ticket ON compensations (ticket_id);
CREATE INDEX compensations_month ON compensations (status, paid_at);

-- 差评回访 (D6): a negative review recorded with its order, called back and recovered. Whether the
-- customer changed the review is recorded as what they did of their own accord; there is no
-- column for paying or discounting for a removal, on purpose.
CREATE TABLE review_recoveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id BIGINT NOT NULL UNIQUE REFERENCES tickets (id),
    brand_id BIGINT REFERENCES brands (id),
    platform TEXT NOT NULL,
    order_ref TEXT NOT NULL,
    rating BIGINT CHECK (rating BETWEEN 1 AND 5),
    review_text TEXT NOT NULL,
    reviewed_at BIGINT,
    called_back_at BIGINT,
    recovery TEXT,
    review_updated_by_customer BIGINT CHECK (review_updated_by_customer IN (0, 1)),
    bought_again BIGINT CHECK (bought_again IN (0, 1)),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Human numbers: the last number handed out per series and business day.
CREATE TABLE number_counters (
    series TEXT NOT NULL,
    day TEXT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (series, day)
);

-- Timelines carry tickets, calls and surveys from now on.
ALTER TABLE timeline_entries DROP CONSTRAINT timeline_entries_kind_check;
ALTER TABLE timeline_entries ADD CONSTRAINT timeline_entries_kind_check CHECK (kind IN ('note', 'created', 'merged', 'device_added', 'ticket', 'call', 'survey'));
ALTER TABLE timeline_entries ADD COLUMN ticket_id BIGINT REFERENCES tickets (id);
