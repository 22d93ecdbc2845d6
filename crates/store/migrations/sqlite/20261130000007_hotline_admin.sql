-- Hotline lines and agent extensions become administered records (SPEC D8): a line names the
-- landline shown on click-to-call for its callers and the calendar whose hours decide whether a
-- call rang after hours; lines and extensions are deactivated rather than deleted, and both carry
-- a version for edits. Existing rows stay active with no landline or calendar of their own (the
-- KEFU_HOTLINE_LANDLINE setting and the default calendar apply, as before).
ALTER TABLE hotline_lines ADD COLUMN landline TEXT;
ALTER TABLE hotline_lines ADD COLUMN calendar_id INTEGER REFERENCES business_calendars (id);
ALTER TABLE hotline_lines ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));
ALTER TABLE hotline_lines ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE agent_extensions ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));
ALTER TABLE agent_extensions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- The call list's filters by agent and by line, newest first.
CREATE INDEX calls_agent_ringing ON calls (agent_user_id, ringing_at);
CREATE INDEX calls_called_ringing ON calls (called, ringing_at);
CREATE INDEX return_calls_due ON return_calls (due_at, id);
