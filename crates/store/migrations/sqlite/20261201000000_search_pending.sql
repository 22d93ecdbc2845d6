-- The FTS5 index follows `search_docs` once per transaction instead of once per statement.
--
-- FTS5 writes the words it was given as a new segment of its index at every SAVEPOINT, and the
-- SQLite writer runs each write of a group commit in a savepoint of its own: with the triggers of
-- 20261130000002 every ticket create wrote a segment (and rewrote the index's structure record),
-- and the many small segments were then merged again and again. Now the triggers only note which
-- documents changed, in `search_pending`, inside the write's savepoint (so a write that rolls back
-- takes its notes with it); the writer brings the index up to date from those notes right before
-- each COMMIT, outside any savepoint, in one go (`store::search::SQLITE_INDEX_PENDING`): one
-- segment per group commit. Readers see only committed transactions, whose index is always up to
-- date.
--
-- `indexed_tokens` are the words the index holds for the document (what FTS5's external-content
-- 'delete' must be given), NULL when it holds none: the first note of a document in a
-- transaction is kept, later changes to the same document add nothing.

CREATE TABLE search_pending (
    id INTEGER PRIMARY KEY,
    indexed_tokens TEXT
) STRICT;

DROP TRIGGER search_docs_ai;
DROP TRIGGER search_docs_ad;
DROP TRIGGER search_docs_au;

CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_pending (id, indexed_tokens)
        SELECT new.id, NULL WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE id = new.id);
END;
CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_pending (id, indexed_tokens)
        SELECT old.id, old.tokens WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE id = old.id);
END;
CREATE TRIGGER search_docs_au AFTER UPDATE OF tokens ON search_docs BEGIN
    INSERT INTO search_pending (id, indexed_tokens)
        SELECT old.id, old.tokens WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE id = old.id);
END;
