-- Notifications (SPEC D7).
--
-- customer_wechat: the WeChat openid a brand's mini program / 公众号 backend bound to a customer
-- after the user subscribed; one openid per customer and app, an openid belongs to one customer
-- of an app. Ticket milestones go to it as subscription messages.
CREATE TABLE customer_wechat (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    brand_id INTEGER REFERENCES brands (id),
    appid TEXT NOT NULL,
    openid TEXT NOT NULL,
    bound_at INTEGER NOT NULL,
    UNIQUE (appid, openid),
    UNIQUE (customer_id, appid)
) STRICT;

-- notify_subscriptions: organisations (key accounts, dealers, integrators) that follow ticket
-- events through a 企业微信 group bot or a signed webhook. brand_id NULL = every brand (platform
-- administrators only); dealer_id set = only tickets of that dealer. events: JSON array of event
-- names (ticket.received, ticket.routed …). target: the bot key or URL, or the webhook URL.
CREATE TABLE notify_subscriptions (
    id INTEGER PRIMARY KEY,
    brand_id INTEGER REFERENCES brands (id),
    dealer_id INTEGER REFERENCES customers (id),
    name TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('wecom', 'webhook')),
    target TEXT NOT NULL,
    events TEXT NOT NULL,
    locale TEXT NOT NULL CHECK (locale IN ('zh-CN', 'en')),
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_by INTEGER REFERENCES users (id),
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX notify_subscriptions_brand ON notify_subscriptions (brand_id, active);
