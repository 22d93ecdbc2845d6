-- Full-text search (SPEC D9): one row per searchable record (customer, device, ticket, knowledge
-- article) with what a result shows (title, body), what it is filtered by, who may see it, and
-- the words app/ segmented with jieba (`tokens`, space-separated, lower-case). `tsv` is derived
-- from `tokens` with the 'simple' configuration (no stemming, no stop words: the words are
-- already segmented) and indexed with GIN; being a generated column it cannot drift.
--
-- Visibility follows the owning records: `brand_id` is the brand that owns the record (NULL: the
-- operating company's own), `customer_id` the customer it belongs to; dealer scopes are decided
-- on the live `customers` row (a merge moves customers between dealers in bulk).

CREATE TABLE search_docs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_kind TEXT NOT NULL CHECK (doc_kind IN ('customer', 'device', 'ticket', 'knowledge')),
    doc_id BIGINT NOT NULL,
    brand_id BIGINT,
    customer_id BIGINT,
    status TEXT,
    sub_kind TEXT,
    updated_at BIGINT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tokens TEXT NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, tokens)) STORED,
    UNIQUE (doc_kind, doc_id)
);
CREATE INDEX search_docs_customer ON search_docs (customer_id);
CREATE INDEX search_docs_brand ON search_docs (brand_id);
CREATE INDEX search_docs_tsv ON search_docs USING GIN (tsv);
