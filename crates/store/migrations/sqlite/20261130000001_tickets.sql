-- The service desk (issue 4, SPEC D1–D11): tickets (受理单) with one owner at every moment, their
-- history, replies and internal notes, the signed resolution plan in parts, compensation records,
-- negative-review recovery, human numbers per business day, and ticket entries on timelines.
--
-- tickets: owner_user_id / owner_queue_id — exactly one is set while the row exists (D3, checked
-- here and by domain::ticket). tracker_user_id is the named tracker (首问负责人). round counts the
-- trips to a department; the plan of the current round is the ticket's plan. access_key_hash is
-- the SHA-256 of the key in the requester's signed status link.
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    brand_id INTEGER REFERENCES brands (id),
    kind TEXT NOT NULL CHECK (kind IN ('consultation', 'complaint', 'repair_request', 'installation_request', 'return_exchange', 'suggestion')),
    channel TEXT NOT NULL CHECK (channel IN ('phone', 'web_form', 'dealer_portal', 'api', 'email', 'walk_in', 'wechat')),
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status TEXT NOT NULL CHECK (status IN ('open', 'routed', 'accepted', 'plan_signed', 'plan_returned', 'in_progress', 'waiting_on_customer', 'resolved', 'confirmed', 'closed', 'merged', 'cancelled')),
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    customer_id INTEGER REFERENCES customers (id),
    requester_id INTEGER REFERENCES customers (id),
    dealer_id INTEGER REFERENCES customers (id),
    device_id INTEGER REFERENCES devices (id),
    contact_name TEXT,
    contact_phone TEXT,
    contact_email TEXT,
    owner_user_id INTEGER REFERENCES users (id),
    owner_queue_id INTEGER REFERENCES org_units (id),
    tracker_user_id INTEGER REFERENCES users (id),
    department_id INTEGER REFERENCES org_units (id),
    paused_from TEXT,
    round INTEGER NOT NULL DEFAULT 0,
    urges INTEGER NOT NULL DEFAULT 0,
    last_urged_at INTEGER,
    settled_at INTEGER,
    work_order_id INTEGER,
    merged_into INTEGER REFERENCES tickets (id),
    complaint_category TEXT CHECK (complaint_category IN ('express_delivery', 'shipping', 'service_attitude', 'product', 'product_quality', 'engineer_conduct', 'hotline')),
    liability TEXT CHECK (liability IN ('product_defect', 'dealer', 'logistics', 'installation', 'customer_misuse', 'undetermined')),
    remedy TEXT CHECK (remedy IN ('resend_parts', 'repair', 'remake')),
    cost_allocation TEXT,
    plan_committed_at INTEGER,
    remote_outcome TEXT CHECK (remote_outcome IN ('solved', 'converted')),
    pre_diagnosis TEXT,
    parts_list TEXT,
    first_reply_at INTEGER,
    informed_at INTEGER,
    confirmed_at INTEGER,
    escalated_at INTEGER,
    source_call_id INTEGER,
    access_key_hash TEXT,
    created_by INTEGER REFERENCES users (id),
    version INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER,
    CHECK ((owner_user_id IS NULL) <> (owner_queue_id IS NULL))
) STRICT;
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
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    brand_id INTEGER REFERENCES brands (id),
    at INTEGER NOT NULL,
    actor_id INTEGER REFERENCES users (id),
    actor_label TEXT,
    event TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    owner_user_id INTEGER,
    owner_queue_id INTEGER,
    data TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);
CREATE INDEX ticket_events_kind ON ticket_events (event, at);

-- Replies go to the requester; internal notes stay inside; inbound is what the requester sent.
CREATE TABLE ticket_messages (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    brand_id INTEGER REFERENCES brands (id),
    at INTEGER NOT NULL,
    author_id INTEGER REFERENCES users (id),
    author_label TEXT,
    visibility TEXT NOT NULL CHECK (visibility IN ('reply', 'internal', 'inbound')),
    channel TEXT NOT NULL CHECK (channel IN ('phone', 'web_form', 'dealer_portal', 'api', 'email', 'walk_in', 'wechat', 'desk')),
    body TEXT NOT NULL,
    email_message_id TEXT UNIQUE,
    in_reply_to TEXT
) STRICT;
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, id);

-- Attachments: the bytes live in the data folder's files/ under their SHA-256 (content-addressed,
-- written before the row); the row names them.
CREATE TABLE ticket_attachments (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    message_id INTEGER REFERENCES ticket_messages (id),
    brand_id INTEGER REFERENCES brands (id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id, id);

-- One department's part of the plan of a round (处理方案).
CREATE TABLE ticket_plan_parts (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    round INTEGER NOT NULL,
    department_id INTEGER NOT NULL REFERENCES org_units (id),
    summary TEXT NOT NULL,
    remedy TEXT CHECK (remedy IN ('resend_parts', 'repair', 'remake')),
    committed_at INTEGER NOT NULL,
    signed_by INTEGER REFERENCES users (id),
    signed_at INTEGER,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    UNIQUE (ticket_id, round, department_id)
) STRICT;

-- Compensation on a complaint (D5), fen; a complaint closes only when none is open.
CREATE TABLE compensations (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    brand_id INTEGER REFERENCES brands (id),
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    payer TEXT NOT NULL CHECK (payer IN ('company', 'manufacturer', 'insurer')),
    status TEXT NOT NULL CHECK (status IN ('proposed', 'approved', 'paid', 'cancelled')),
    reason TEXT NOT NULL,
    created_by INTEGER REFERENCES users (id),
    approved_by INTEGER REFERENCES users (id),
    paid_at INTEGER,
    version INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX compensations_ticket ON compensations (ticket_id);
CREATE INDEX compensations_month ON compensations (status, paid_at);

-- 差评回访 (D6): a negative review recorded with its order, called back and recovered. Whether the
-- customer changed the review is recorded as what they did of their own accord; there is no
-- column for paying or discounting for a removal, on purpose.
CREATE TABLE review_recoveries (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL UNIQUE REFERENCES tickets (id),
    brand_id INTEGER REFERENCES brands (id),
    platform TEXT NOT NULL,
    order_ref TEXT NOT NULL,
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    review_text TEXT NOT NULL,
    reviewed_at INTEGER,
    called_back_at INTEGER,
    recovery TEXT,
    review_updated_by_customer INTEGER CHECK (review_updated_by_customer IN (0, 1)),
    bought_again INTEGER CHECK (bought_again IN (0, 1)),
    version INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Human numbers: the last number handed out per series and business day.
CREATE TABLE number_counters (
    series TEXT NOT NULL,
    day TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (series, day)
) STRICT;

-- Timelines carry tickets, calls and surveys from now on: the kind list grows and an entry may
-- name its ticket. SQLite cannot alter a CHECK, so the table is rebuilt with the same ids.
CREATE TABLE timeline_entries_new (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    device_id INTEGER REFERENCES devices (id),
    brand_id INTEGER REFERENCES brands (id),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('note', 'created', 'merged', 'device_added', 'ticket', 'call', 'survey')),
    category_id INTEGER REFERENCES note_categories (id),
    author_id INTEGER,
    body TEXT NOT NULL,
    origin_customer_id INTEGER,
    ticket_id INTEGER REFERENCES tickets (id)
) STRICT;
INSERT INTO timeline_entries_new (id, customer_id, device_id, brand_id, at, kind, category_id, author_id, body, origin_customer_id)
    SELECT id, customer_id, device_id, brand_id, at, kind, category_id, author_id, body, origin_customer_id FROM timeline_entries;
DROP TABLE timeline_entries;
ALTER TABLE timeline_entries_new RENAME TO timeline_entries;
CREATE INDEX timeline_customer ON timeline_entries (customer_id, at, id);
CREATE INDEX timeline_device ON timeline_entries (device_id, at, id);
