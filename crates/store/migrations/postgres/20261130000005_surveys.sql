-- Surveys (回访, SPEC F5): questionnaires answered through a signed link or recorded by an agent
-- on a call. A template holds its questions and the rules that call an answer poor; a poor answer
-- opens a follow-up ticket in the same transaction (survey_responses.follow_up_ticket_id).
--
-- survey_templates.questions / rules: JSON (domain::survey::Question / Rule), checked by the
-- domain when loaded. survey_invitations: one questionnaire sent about one subject (a ticket now,
-- a work order later); token_hash is the SHA-256 of the key in the signed link /s/{key};
-- subject_label is the subject's human number as it was when invited; a newer invitation about the
-- same subject and template expires the older one. survey_responses: at most one per invitation.
CREATE TABLE survey_templates (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_en TEXT NOT NULL,
    for_subject TEXT NOT NULL CHECK (for_subject IN ('ticket', 'work_order')),
    questions TEXT NOT NULL,
    rules TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    version BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE survey_invitations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    template_id BIGINT NOT NULL REFERENCES survey_templates (id),
    template_version BIGINT NOT NULL,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('ticket', 'work_order')),
    subject_id BIGINT NOT NULL,
    subject_label TEXT NOT NULL,
    brand_id BIGINT REFERENCES brands (id),
    customer_id BIGINT REFERENCES customers (id),
    channel TEXT NOT NULL CHECK (channel IN ('link', 'call')),
    token_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('sent', 'answered', 'expired')),
    expires_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX survey_invitations_subject ON survey_invitations (subject_kind, subject_id, id);
CREATE INDEX survey_invitations_status ON survey_invitations (status, id);
CREATE INDEX survey_invitations_brand ON survey_invitations (brand_id, id);
CREATE INDEX survey_invitations_customer ON survey_invitations (customer_id, id);

CREATE TABLE survey_responses (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invitation_id BIGINT NOT NULL UNIQUE REFERENCES survey_invitations (id),
    brand_id BIGINT REFERENCES brands (id),
    answers TEXT NOT NULL,
    recorded_by BIGINT REFERENCES users (id),
    channel TEXT NOT NULL CHECK (channel IN ('link', 'call')),
    poor BIGINT NOT NULL CHECK (poor IN (0, 1)),
    follow_up_ticket_id BIGINT REFERENCES tickets (id),
    answered_at BIGINT NOT NULL
);
CREATE INDEX survey_responses_poor ON survey_responses (poor, answered_at);

-- The two questionnaires every deployment starts with: after a ticket closes, and after an
-- on-site visit (used by work orders). The latter asks what was charged, to catch 乱收费.
INSERT INTO survey_templates (code, name, name_en, for_subject, questions, rules, active, version) VALUES
('ticket_followup', '受理单回访', 'Service request follow-up', 'ticket',
 '[{"key":"satisfaction","text_zh":"您对本次服务的满意程度如何？（1 分非常不满意，5 分非常满意）","text_en":"How satisfied are you with how we handled your request? (1 = very dissatisfied, 5 = very satisfied)","type":"rating","required":true},{"key":"solved","text_zh":"您的问题是否已解决？","text_en":"Has your problem been solved?","type":"yes_no","required":true},{"key":"speed","text_zh":"您觉得处理速度如何？","text_en":"How was the speed of handling?","type":"choice","required":false,"options":[{"key":"fast","text_zh":"很快","text_en":"Fast"},{"key":"ok","text_zh":"一般","text_en":"Acceptable"},{"key":"slow","text_zh":"太慢","text_en":"Too slow"}]},{"key":"comment","text_zh":"还有什么想告诉我们的吗？","text_en":"Anything else you would like to tell us?","type":"text","required":false}]',
 '[{"question":"satisfaction","poor_when":{"rating_at_most":2},"follow_up":{"kind":"complaint","priority":"high"}},{"question":"solved","poor_when":{"yes_no_is":false},"follow_up":{"kind":"complaint","priority":"high"}},{"question":"speed","poor_when":{"choice_in":["slow"]},"follow_up":{"kind":"consultation","priority":"normal"}}]',
 1, 1),
('visit_followup', '上门服务回访', 'On-site service follow-up', 'work_order',
 '[{"key":"on_time","text_zh":"工程师是否按约定时间上门？","text_en":"Did the engineer arrive at the agreed time?","type":"yes_no","required":true},{"key":"attitude","text_zh":"您对工程师的服务态度打几分？（1 分非常不满意，5 分非常满意）","text_en":"How would you rate the engineer''s attitude? (1 = very dissatisfied, 5 = very satisfied)","type":"rating","required":true},{"key":"fee_as_quoted","text_zh":"收费是否与出示的收费标准一致？","text_en":"Was the fee the same as the price list shown to you?","type":"yes_no","required":true},{"key":"charged_extra","text_zh":"工程师是否收取了收费标准以外的费用？","text_en":"Did the engineer charge anything beyond the price list?","type":"yes_no","required":true},{"key":"comment","text_zh":"还有什么想告诉我们的吗？","text_en":"Anything else you would like to tell us?","type":"text","required":false}]',
 '[{"question":"attitude","poor_when":{"rating_at_most":2},"follow_up":{"kind":"complaint","priority":"high","category":"engineer_conduct"}},{"question":"charged_extra","poor_when":{"yes_no_is":true},"follow_up":{"kind":"complaint","priority":"high","category":"engineer_conduct"}}]',
 1, 1);
