-- Indexes on columns that are often NULL leave the NULLs out: no query looks a ticket, clock or
-- search document up by a missing tracker, customer, requester or brand (every lookup is `= ?`
-- or `IN (…)`, which implies NOT NULL, so the partial index serves it), and each entry left out
-- is a B-tree insert fewer in every ticket create — a new caller's ticket has no customer yet,
-- and the operating company's own records have no brand.
DROP INDEX tickets_tracker;
CREATE INDEX tickets_tracker ON tickets (tracker_user_id, status) WHERE tracker_user_id IS NOT NULL;
DROP INDEX tickets_customer;
CREATE INDEX tickets_customer ON tickets (customer_id, status) WHERE customer_id IS NOT NULL;
DROP INDEX tickets_requester;
CREATE INDEX tickets_requester ON tickets (requester_id, status) WHERE requester_id IS NOT NULL;
DROP INDEX tickets_brand;
CREATE INDEX tickets_brand ON tickets (brand_id, id) WHERE brand_id IS NOT NULL;
DROP INDEX sla_clocks_brand;
CREATE INDEX sla_clocks_brand ON sla_clocks (brand_id, id) WHERE brand_id IS NOT NULL;
DROP INDEX search_docs_customer;
CREATE INDEX search_docs_customer ON search_docs (customer_id) WHERE customer_id IS NOT NULL;
DROP INDEX search_docs_brand;
CREATE INDEX search_docs_brand ON search_docs (brand_id) WHERE brand_id IS NOT NULL;
