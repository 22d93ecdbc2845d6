-- Inbound email (SPEC D1): every message the MTA posts is kept raw before anything else happens,
-- so nothing is lost — a mail that cannot be parsed stays here with status 'failed' and the
-- reason, for an administrator to see.
--
-- message_id is the Message-ID header without angle brackets; a mail without one is filed under
-- '<sha256 of the raw bytes>@sha256.invalid', so the same bytes posted twice are one row.
-- status: received (stored, not yet on a ticket — a retry of the post processes it again),
-- threaded (added to an existing ticket), created (opened a new ticket), failed (malformed).
-- meta: JSON with the parts that are not the text (attachments: name, content type, size), the
-- In-Reply-To and References ids, and how the mail was matched.
CREATE TABLE inbound_mails (
    id INTEGER PRIMARY KEY,
    brand_id INTEGER REFERENCES brands (id),
    message_id TEXT NOT NULL UNIQUE,
    from_addr TEXT,
    to_addrs TEXT NOT NULL,
    subject TEXT,
    raw BLOB NOT NULL,
    size INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    received_by INTEGER REFERENCES users (id),
    status TEXT NOT NULL CHECK (status IN ('received', 'threaded', 'created', 'failed')),
    ticket_id INTEGER REFERENCES tickets (id),
    error TEXT,
    meta TEXT NOT NULL,
    processed_at INTEGER
) STRICT;
CREATE INDEX inbound_mails_status ON inbound_mails (status, id);
CREATE INDEX inbound_mails_ticket ON inbound_mails (ticket_id, id);

-- A mail from an address we know is filed under that customer.
CREATE INDEX customers_email ON customers (lower(email));
