-- Foundation: accounts, org units, brands, sessions, tokens, audit, idempotency and the customer
-- ledger. Conventions (ARCHITECTURE.md): BIGINT PRIMARY KEY ids, STRICT tables, instants as UTC
-- milliseconds, civil dates as TEXT 'YYYY-MM-DD', money in fen, flags 0/1, no time defaults.

CREATE TABLE brands (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    tier TEXT NOT NULL DEFAULT 'standard' CHECK (tier IN ('standard', 'premium')),
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE org_units (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id BIGINT REFERENCES org_units (id),
    kind TEXT NOT NULL CHECK (kind IN ('company', 'department', 'branch', 'team')),
    function TEXT CHECK (function IN ('service', 'quality', 'production', 'logistics', 'supply', 'finance', 'rnd', 'sales', 'warehouse')),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    city_code TEXT,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE customers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('individual', 'dealer', 'brand_client')),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    dealer_id BIGINT REFERENCES customers (id),
    owner_user_id BIGINT,
    province_code TEXT,
    city_code TEXT,
    district_code TEXT,
    remark TEXT,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'merged')),
    merged_into_id BIGINT REFERENCES customers (id),
    created_by BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX customers_name_key ON customers (name_key, id);
CREATE INDEX customers_created ON customers (created_at, id);
CREATE INDEX customers_city ON customers (city_code, id);
CREATE INDEX customers_dealer ON customers (dealer_id, id);
CREATE INDEX customers_owner ON customers (owner_user_id, id);

-- Every phone a customer can be reached at (its own and its contacts'), normalised, so that
-- a caller is found and duplicates are detected by equality.
CREATE TABLE customer_phones (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    contact_id BIGINT
);
CREATE INDEX customer_phones_phone ON customer_phones (phone, customer_id);
CREATE INDEX customer_phones_customer ON customer_phones (customer_id);

CREATE TABLE customer_brand_links (
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    brand_id BIGINT NOT NULL REFERENCES brands (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (brand_id, customer_id)
);
CREATE INDEX customer_brand_links_customer ON customer_brand_links (customer_id);

CREATE TABLE contacts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    name TEXT NOT NULL,
    phone TEXT,
    title TEXT,
    is_primary BIGINT NOT NULL DEFAULT 0 CHECK (is_primary IN (0, 1)),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX contacts_customer ON contacts (customer_id);

CREATE TABLE addresses (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    label TEXT,
    province_code TEXT NOT NULL,
    city_code TEXT NOT NULL,
    district_code TEXT,
    street_code TEXT,
    detail TEXT NOT NULL,
    lng DOUBLE PRECISION,
    lat DOUBLE PRECISION,
    is_default BIGINT NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX addresses_customer ON addresses (customer_id);

CREATE TABLE devices (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    brand_id BIGINT REFERENCES brands (id),
    category TEXT NOT NULL,
    model TEXT NOT NULL,
    serial TEXT,
    production_date TEXT,
    purchase_date TEXT,
    purchase_channel TEXT CHECK (purchase_channel IN ('dealer', 'online', 'store', 'project', 'other')),
    install_date TEXT,
    installer TEXT,
    warranty_end TEXT,
    address_id BIGINT REFERENCES addresses (id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX devices_customer ON devices (customer_id, id);
CREATE INDEX devices_serial ON devices (serial);
CREATE INDEX devices_brand ON devices (brand_id, id);

CREATE TABLE note_categories (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    sort BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);
INSERT INTO note_categories (code, name_zh, name_en, sort) VALUES
    ('consultation', '产品咨询', 'Product consultation', 10),
    ('quality', '质量反馈', 'Quality feedback', 20),
    ('installation', '安装问题', 'Installation', 30),
    ('service', '服务评价', 'Service feedback', 40),
    ('logistics', '物流配送', 'Logistics', 50),
    ('price', '价格费用', 'Price and fees', 60),
    ('suggestion', '意见建议', 'Suggestion', 70),
    ('sales', '销售机会', 'Sales opportunity', 80),
    ('other', '其他', 'Other', 90);

CREATE TABLE timeline_entries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    device_id BIGINT REFERENCES devices (id),
    brand_id BIGINT REFERENCES brands (id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('note', 'created', 'merged', 'device_added')),
    category_id BIGINT REFERENCES note_categories (id),
    author_id BIGINT,
    body TEXT NOT NULL,
    origin_customer_id BIGINT
);
CREATE INDEX timeline_customer ON timeline_entries (customer_id, at, id);
CREATE INDEX timeline_device ON timeline_entries (device_id, at, id);

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    password_hash TEXT NOT NULL,
    org_unit_id BIGINT REFERENCES org_units (id),
    brand_id BIGINT REFERENCES brands (id),
    dealer_id BIGINT REFERENCES customers (id),
    outlet_id BIGINT,
    engineer_id BIGINT,
    locale TEXT NOT NULL DEFAULT 'zh-CN',
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'agent', 'dispatcher', 'city_supervisor', 'department_handler', 'account_owner', 'remote_support', 'followup_specialist', 'parts_warehouse', 'settlement_finance', 'quality_checker', 'engineer', 'outlet_admin', 'dealer_user', 'brand_user')),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    brand_id BIGINT REFERENCES brands (id),
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE login_failures (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login TEXT NOT NULL,
    ip TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_login ON login_failures (login, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id BIGINT,
    brand_id BIGINT,
    before_json TEXT,
    after_json TEXT,
    request_id TEXT
);
CREATE INDEX audit_at ON audit_log (at, id);
CREATE INDEX audit_entity ON audit_log (entity, entity_id, id);
CREATE INDEX audit_actor ON audit_log (actor_id, id);

CREATE TABLE idempotency_keys (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    principal TEXT NOT NULL,
    route TEXT NOT NULL,
    key TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    resource_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (principal, route, key)
);
CREATE INDEX idempotency_created ON idempotency_keys (created_at);
