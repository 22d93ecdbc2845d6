-- Full-text search (SPEC D9): one row per searchable record (customer, device, ticket, knowledge
-- article) with what a result shows (title, body), what it is filtered by, who may see it, and
-- the words app/ segmented with jieba (`tokens`, space-separated, lower-case). FTS5 indexes
-- `tokens` as external content; the triggers keep it in step with every insert, update and
-- delete of `search_docs`, so the index cannot drift from the rows.
--
-- Visibility follows the owning records: `brand_id` is the brand that owns the record (NULL: the
-- operating company's own), `customer_id` the customer it belongs to; dealer scopes are decided
-- on the live `customers` row (a merge moves customers between dealers in bulk).

CREATE TABLE search_docs (
    id INTEGER PRIMARY KEY,
    doc_kind TEXT NOT NULL CHECK (doc_kind IN ('customer', 'device', 'ticket', 'knowledge')),
    doc_id INTEGER NOT NULL,
    brand_id INTEGER,
    customer_id INTEGER,
    status TEXT,
    sub_kind TEXT,
    updated_at INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tokens TEXT NOT NULL,
    UNIQUE (doc_kind, doc_id)
) STRICT;
CREATE INDEX search_docs_customer ON search_docs (customer_id);
CREATE INDEX search_docs_brand ON search_docs (brand_id);

CREATE VIRTUAL TABLE search_fts USING fts5 (
    tokens,
    content = 'search_docs',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_fts (rowid, tokens) VALUES (new.id, new.tokens);
END;
CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens);
END;
CREATE TRIGGER search_docs_au AFTER UPDATE OF tokens ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens);
    INSERT INTO search_fts (rowid, tokens) VALUES (new.id, new.tokens);
END;
