-- The public request form (SPEC D1, channel web_form).
--
-- server_secrets: keys the server makes for itself on first use and shares between its nodes
-- through the database (the web form's token signing key). value is base64url of 32 random bytes.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- One row per accepted web-form submission (or public API post), for the rate limit per client
-- address and per phone. token is the form token (or the API's Idempotency-Key), so that a
-- replay of the same submission is not counted twice. Swept after a day.
CREATE TABLE web_form_hits (
    id INTEGER PRIMARY KEY,
    brand_id INTEGER NOT NULL REFERENCES brands (id),
    token TEXT NOT NULL UNIQUE,
    ip TEXT NOT NULL,
    phone TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;
CREATE INDEX web_form_hits_ip ON web_form_hits (ip, at);
CREATE INDEX web_form_hits_phone ON web_form_hits (phone, at);
CREATE INDEX web_form_hits_at ON web_form_hits (at);
