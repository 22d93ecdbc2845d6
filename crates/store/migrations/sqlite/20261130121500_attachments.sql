-- Who added an attachment when it was not a signed-in user: the requester through the status
-- link ("requester") or the sender of an inbound mail (their address). The bytes' SHA-256 is
-- indexed so that a file still named by a row is never taken for an orphan.
ALTER TABLE ticket_attachments ADD COLUMN author_label TEXT;
CREATE INDEX ticket_attachments_sha256 ON ticket_attachments (sha256);
