-- SLA engine (SPEC D4): business calendars with their exceptional days, SLA policies and the
-- clocks that run for tickets and work orders. Instants are UTC milliseconds; opening hours are
-- text such as '08:00-21:00' or '09:00-12:00,13:30-18:00' ('' = closed), parsed by
-- domain::calendar::DayHours, which refuses what it cannot read before anything is stored.

-- A calendar: a time zone and the opening hours of each weekday. brand_id NULL = the operating
-- company's own. version changes with every edit of the calendar or of one of its days, so that
-- the cached calendars in app/ know when to reload.
CREATE TABLE business_calendars (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    brand_id BIGINT REFERENCES brands (id),
    name TEXT NOT NULL,
    tz TEXT NOT NULL,
    hours_mon TEXT NOT NULL DEFAULT '', hours_tue TEXT NOT NULL DEFAULT '', hours_wed TEXT NOT NULL DEFAULT '', hours_thu TEXT NOT NULL DEFAULT '', hours_fri TEXT NOT NULL DEFAULT '', hours_sat TEXT NOT NULL DEFAULT '', hours_sun TEXT NOT NULL DEFAULT '',
    is_default BIGINT NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- At most one default calendar.
CREATE UNIQUE INDEX business_calendars_one_default ON business_calendars (is_default) WHERE is_default = 1;

-- A date that differs from its weekday: a public holiday (closed) or a make-up working day
-- (调休) or special hours (open, with hours).
CREATE TABLE calendar_days (
    calendar_id BIGINT NOT NULL REFERENCES business_calendars (id),
    date TEXT NOT NULL CHECK (length(date) = 10),
    rule TEXT NOT NULL CHECK (rule IN ('closed', 'open')),
    hours TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    CHECK ((rule = 'closed' AND hours = '') OR (rule = 'open' AND hours <> '')),
    PRIMARY KEY (calendar_id, date)
);

-- A target for one metric. kind, category, priority and tier select the tickets it applies to
-- (NULL = any); the most specific active match wins (domain::sla::choose). target_minutes are
-- business minutes on calendar_id; the warning is due after warn_percent of them.
CREATE TABLE sla_policies (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL CHECK (metric IN ('first_reply', 'proposal', 'resolution')),
    kind TEXT CHECK (kind IN ('consultation', 'complaint', 'repair_request', 'installation_request', 'return_exchange', 'suggestion')),
    category TEXT CHECK (category IN ('express_delivery', 'shipping', 'service_attitude', 'product', 'product_quality', 'engineer_conduct', 'hotline')),
    priority TEXT CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    tier TEXT CHECK (tier IN ('standard', 'premium')),
    target_minutes BIGINT NOT NULL CHECK (target_minutes > 0),
    calendar_id BIGINT NOT NULL REFERENCES business_calendars (id),
    warn_percent BIGINT NOT NULL DEFAULT 80 CHECK (warn_percent BETWEEN 0 AND 100),
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sla_policies_metric ON sla_policies (metric, active);

-- One clock per subject and metric. started_at and the pauses ([[from, to], …] as JSON, closed
-- pauses only; paused_at is the open one) determine, with the calendar, when target_ms of
-- business time will have run: due_at (and warn_at, after warn_ms). Both are NULL while paused:
-- there is no deadline until the clock runs again. A warn and a breach job are scheduled for
-- those instants; their payload names the instant, and a job whose instant is no longer the
-- clock's finds nothing to do. version counts changes, for the jobs and for readers.
CREATE TABLE sla_clocks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('ticket', 'work_order')),
    subject_id BIGINT NOT NULL,
    brand_id BIGINT REFERENCES brands (id),
    customer_id BIGINT REFERENCES customers (id),
    metric TEXT NOT NULL CHECK (metric IN ('first_reply', 'proposal', 'resolution')),
    policy_id BIGINT REFERENCES sla_policies (id),
    calendar_id BIGINT NOT NULL REFERENCES business_calendars (id),
    started_at BIGINT NOT NULL,
    target_ms BIGINT NOT NULL CHECK (target_ms >= 0),
    warn_ms BIGINT NOT NULL CHECK (warn_ms >= 0),
    due_at BIGINT,
    warn_at BIGINT,
    paused_at BIGINT,
    pauses TEXT NOT NULL DEFAULT '[]',
    stopped_at BIGINT,
    outcome TEXT CHECK (outcome IN ('met', 'breached')),
    warned_at BIGINT,
    breached_at BIGINT,
    escalated_at BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (subject_kind, subject_id, metric)
);
-- The supervisor lists: running clocks by deadline, breached ones by when they breached.
CREATE INDEX sla_clocks_due ON sla_clocks (due_at, id) WHERE stopped_at IS NULL AND due_at IS NOT NULL;
CREATE INDEX sla_clocks_breached ON sla_clocks (breached_at, id) WHERE breached_at IS NOT NULL;
CREATE INDEX sla_clocks_brand ON sla_clocks (brand_id, id);

-- Seeds. 1: the service desk, 8:00–21:00 every day of the year including holidays. 2: office
-- hours, Monday to Friday 9:00–18:00, with China's public holidays and make-up working days.
-- 3: around the clock, for targets promised to customers in plain hours (24 h, 48 h).
INSERT INTO business_calendars (id, brand_id, name, tz, hours_mon, hours_tue, hours_wed, hours_thu, hours_fri, hours_sat, hours_sun, is_default, version, created_at, updated_at) OVERRIDING SYSTEM VALUE VALUES
    (1, NULL, '客服中心 8:00–21:00 每天', 'Asia/Shanghai', '08:00-21:00', '08:00-21:00', '08:00-21:00', '08:00-21:00', '08:00-21:00', '08:00-21:00', '08:00-21:00', 1, 1, 0, 0),
    (2, NULL, '工作日 9:00–18:00', 'Asia/Shanghai', '09:00-18:00', '09:00-18:00', '09:00-18:00', '09:00-18:00', '09:00-18:00', '', '', 0, 1, 0, 0),
    (3, NULL, '全天候 24×7', 'Asia/Shanghai', '00:00-24:00', '00:00-24:00', '00:00-24:00', '00:00-24:00', '00:00-24:00', '00:00-24:00', '00:00-24:00', 0, 1, 0, 0);

-- 2026 from 国务院办公厅关于2026年部分节假日安排的通知, dated 2025-11-04, published by Xinhua
-- (新华社北京11月4日电; e.g. https://politics.gmw.cn/2025-11/04/content_38391083.htm): 元旦 1月1日–3日,
-- 1月4日(周日)上班; 春节 2月15日–23日, 2月14日(周六)、2月28日(周六)上班; 清明节 4月4日–6日; 劳动节
-- 5月1日–5日, 5月9日(周六)上班; 端午节 6月19日–21日; 中秋节 9月25日–27日; 国庆节 10月1日–7日,
-- 9月20日(周日)、10月10日(周六)上班.
-- 2027: the State Council's notice for 2027 could not be found when this was written (it is
-- usually published in November of the year before); no 2027 dates are seeded. Add them on the
-- calendar's page (or PUT /api/v1/calendars/2/days/{date}) once it is out.
INSERT INTO calendar_days (calendar_id, date, rule, hours, name) VALUES
    (2, '2026-01-01', 'closed', '', '元旦'),
    (2, '2026-01-02', 'closed', '', '元旦'),
    (2, '2026-01-03', 'closed', '', '元旦'),
    (2, '2026-01-04', 'open', '09:00-18:00', '元旦调休'),
    (2, '2026-02-14', 'open', '09:00-18:00', '春节调休'),
    (2, '2026-02-15', 'closed', '', '春节'),
    (2, '2026-02-16', 'closed', '', '春节'),
    (2, '2026-02-17', 'closed', '', '春节'),
    (2, '2026-02-18', 'closed', '', '春节'),
    (2, '2026-02-19', 'closed', '', '春节'),
    (2, '2026-02-20', 'closed', '', '春节'),
    (2, '2026-02-21', 'closed', '', '春节'),
    (2, '2026-02-22', 'closed', '', '春节'),
    (2, '2026-02-23', 'closed', '', '春节'),
    (2, '2026-02-28', 'open', '09:00-18:00', '春节调休'),
    (2, '2026-04-04', 'closed', '', '清明节'),
    (2, '2026-04-05', 'closed', '', '清明节'),
    (2, '2026-04-06', 'closed', '', '清明节'),
    (2, '2026-05-01', 'closed', '', '劳动节'),
    (2, '2026-05-02', 'closed', '', '劳动节'),
    (2, '2026-05-03', 'closed', '', '劳动节'),
    (2, '2026-05-04', 'closed', '', '劳动节'),
    (2, '2026-05-05', 'closed', '', '劳动节'),
    (2, '2026-05-09', 'open', '09:00-18:00', '劳动节调休'),
    (2, '2026-06-19', 'closed', '', '端午节'),
    (2, '2026-06-20', 'closed', '', '端午节'),
    (2, '2026-06-21', 'closed', '', '端午节'),
    (2, '2026-09-20', 'open', '09:00-18:00', '国庆节调休'),
    (2, '2026-09-25', 'closed', '', '中秋节'),
    (2, '2026-09-26', 'closed', '', '中秋节'),
    (2, '2026-09-27', 'closed', '', '中秋节'),
    (2, '2026-10-01', 'closed', '', '国庆节'),
    (2, '2026-10-02', 'closed', '', '国庆节'),
    (2, '2026-10-03', 'closed', '', '国庆节'),
    (2, '2026-10-04', 'closed', '', '国庆节'),
    (2, '2026-10-05', 'closed', '', '国庆节'),
    (2, '2026-10-06', 'closed', '', '国庆节'),
    (2, '2026-10-07', 'closed', '', '国庆节'),
    (2, '2026-10-10', 'open', '09:00-18:00', '国庆节调休');

-- Default policies (business minutes): first reply within 1 h on the desk calendar, 30 min for
-- premium brands; opinions and suggestions answered within 24 h and complaint plans within 48 h,
-- both promised in plain hours (calendar 3); resolution per kind in desk days of 13 h:
-- consultation 1, repair and installation 3, complaint and return/exchange 5, suggestion 10.
INSERT INTO sla_policies (id, name, metric, kind, category, priority, tier, target_minutes, calendar_id, warn_percent, active, version, created_at, updated_at) OVERRIDING SYSTEM VALUE VALUES
    (1, '首次响应 1 小时', 'first_reply', NULL, NULL, NULL, NULL, 60, 1, 80, 1, 1, 0, 0),
    (2, '意见建议 24 小时内答复', 'first_reply', 'suggestion', NULL, NULL, NULL, 1440, 3, 80, 1, 1, 0, 0),
    (3, '重点品牌首次响应 30 分钟', 'first_reply', NULL, NULL, NULL, 'premium', 30, 1, 80, 1, 1, 0, 0),
    (4, '投诉 48 小时内给出处理方案', 'proposal', 'complaint', NULL, NULL, NULL, 2880, 3, 75, 1, 1, 0, 0),
    (5, '咨询 1 个工作日解决', 'resolution', 'consultation', NULL, NULL, NULL, 780, 1, 80, 1, 1, 0, 0),
    (6, '报修 3 个工作日解决', 'resolution', 'repair_request', NULL, NULL, NULL, 2340, 1, 80, 1, 1, 0, 0),
    (7, '安装 3 个工作日完成', 'resolution', 'installation_request', NULL, NULL, NULL, 2340, 1, 80, 1, 1, 0, 0),
    (8, '投诉 5 个工作日结案', 'resolution', 'complaint', NULL, NULL, NULL, 3900, 1, 80, 1, 1, 0, 0),
    (9, '退换货 5 个工作日完成', 'resolution', 'return_exchange', NULL, NULL, NULL, 3900, 1, 80, 1, 1, 0, 0),
    (10, '意见建议 10 个工作日处理', 'resolution', 'suggestion', NULL, NULL, NULL, 7800, 1, 80, 1, 1, 0, 0);

-- The seeds chose their ids; identities continue after them.
SELECT setval(pg_get_serial_sequence('business_calendars', 'id'), 3);
SELECT setval(pg_get_serial_sequence('sla_policies', 'id'), 10);
