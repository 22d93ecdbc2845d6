//! Surveys (回访, SPEC F5): a questionnaire about a ticket or a work order, answered by the
//! customer through a signed link or recorded by an agent on a call. A [`Template`] holds the
//! questions and the rules that call an answer poor; [`Template::parse_answers`] turns what a
//! form or a JSON body sent into [`Answers`] (every question checked: required, ranges, options),
//! and [`Template::evaluate`] decides whether the answers are poor and which follow-up ticket they
//! open. Templates are data (JSON in the database), so work orders bring their own questions and
//! rules without code here changing; [`Template::check`] refuses a template whose rules do not fit
//! its questions.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::access::string_enum;
use crate::ticket::{ComplaintCategory, Priority, TicketKind};

/// Ratings run from 1 (very dissatisfied) to 5 (very satisfied).
pub const RATING_MIN: i64 = 1;
pub const RATING_MAX: i64 = 5;
/// Longest free-text answer, in characters.
pub const TEXT_MAX: usize = 2_000;

string_enum!(
    /// What a survey is about.
    SubjectKind {
        Ticket = "ticket",
        WorkOrder = "work_order",
    }
);

string_enum!(
    /// How the customer answers: through the signed link, or on a call with an agent.
    SurveyChannel {
        Link = "link",
        Call = "call",
    }
);

string_enum!(
    InvitationStatus {
        Sent = "sent",
        Answered = "answered",
        Expired = "expired",
    }
);

string_enum!(
    QuestionType {
        Rating = "rating",
        Choice = "choice",
        YesNo = "yes_no",
        Text = "text",
    }
);

string_enum!(
    /// The kinds of ticket a poor answer may open.
    FollowUpKind {
        Complaint = "complaint",
        Consultation = "consultation",
    }
);

impl FollowUpKind {
    pub fn ticket_kind(self) -> TicketKind {
        match self {
            FollowUpKind::Complaint => TicketKind::Complaint,
            FollowUpKind::Consultation => TicketKind::Consultation,
        }
    }

    /// A complaint outranks a consultation when several rules match.
    fn rank(self) -> u8 {
        match self {
            FollowUpKind::Consultation => 0,
            FollowUpKind::Complaint => 1,
        }
    }
}

/// One option of a choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub key: String,
    pub text_zh: String,
    pub text_en: String,
}

impl ChoiceOption {
    pub fn text(&self, lang: &str) -> &str {
        if lang.starts_with("en") {
            &self.text_en
        } else {
            &self.text_zh
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// Stable name of the question: answers and rules refer to it.
    pub key: String,
    pub text_zh: String,
    pub text_en: String,
    #[serde(rename = "type")]
    pub kind: QuestionType,
    #[serde(default)]
    pub required: bool,
    /// The options of a choice question (none for other types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ChoiceOption>,
}

impl Question {
    pub fn text(&self, lang: &str) -> &str {
        if lang.starts_with("en") {
            &self.text_en
        } else {
            &self.text_zh
        }
    }

    pub fn option(&self, key: &str) -> Option<&ChoiceOption> {
        self.options.iter().find(|o| o.key == key)
    }
}

/// When an answer to one question is poor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoorWhen {
    /// A rating at or below this value.
    RatingAtMost(i64),
    /// One of these options was chosen.
    ChoiceIn(Vec<String>),
    /// A yes/no answer equal to this value.
    YesNoIs(bool),
}

/// The ticket a poor answer opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub kind: FollowUpKind,
    pub priority: Priority,
    /// For complaints: the category the complaint is filed under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<ComplaintCategory>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub question: String,
    pub poor_when: PoorWhen,
    pub follow_up: FollowUp,
}

/// A questionnaire and its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub id: crate::SurveyTemplateId,
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub for_subject: SubjectKind,
    pub questions: Vec<Question>,
    pub rules: Vec<Rule>,
    pub active: bool,
    pub version: i64,
}

/// One answer, of the type its question asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Rating(i64),
    YesNo(bool),
    /// The key of the chosen option.
    Choice(String),
    Text(String),
}

/// The answers to one questionnaire, by question key. Unanswered optional questions are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Answers(pub BTreeMap<String, Answer>);

impl Answers {
    pub fn get(&self, key: &str) -> Option<&Answer> {
        self.0.get(key)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// What the rules made of a set of answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The rules that matched, in template order; empty when the customer is satisfied.
    pub matched: Vec<Rule>,
    /// The ticket to open: the strongest follow-up among the matched rules (a complaint before a
    /// consultation, then the higher priority; the earlier rule on a tie).
    pub follow_up: Option<FollowUp>,
}

impl Verdict {
    pub fn poor(&self) -> bool {
        !self.matched.is_empty()
    }
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("question key {0:?} is empty, not snake_case or used twice")]
    BadKey(String),
    #[error(
        "question {0:?}: a choice question needs options with distinct keys; other types have none"
    )]
    BadOptions(String),
    #[error("question {0:?}: the texts in both languages are required")]
    NoText(String),
    #[error("rule on {0:?}: no such question")]
    UnknownQuestion(String),
    #[error("rule on {0:?}: the condition does not fit the question's type or options")]
    BadCondition(String),
    #[error("rule on {0:?}: only complaints have a category")]
    CategoryOnConsultation(String),
}

fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Field messages (stable English phrases the web layer translates).
pub const MSG_REQUIRED: &str = "required";
pub const MSG_RATING: &str = "a rating from 1 to 5";
pub const MSG_YES_NO: &str = "yes or no";
pub const MSG_OPTION: &str = "not one of the options";
pub const MSG_TEXT: &str = "text expected";
pub const MSG_UNKNOWN: &str = "not a question of this survey";

/// A JSON value that carries no answer: null, or a string of blanks.
fn blank(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn parse_one(q: &Question, v: &serde_json::Value) -> Result<Answer, String> {
    use serde_json::Value as V;
    match q.kind {
        QuestionType::Rating => {
            let n = match v {
                V::Number(n) => n.as_i64(),
                V::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if (RATING_MIN..=RATING_MAX).contains(&n) => Ok(Answer::Rating(n)),
                _ => Err(MSG_RATING.into()),
            }
        }
        QuestionType::YesNo => match v {
            V::Bool(b) => Ok(Answer::YesNo(*b)),
            V::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "yes" | "true" | "1" => Ok(Answer::YesNo(true)),
                "no" | "false" | "0" => Ok(Answer::YesNo(false)),
                _ => Err(MSG_YES_NO.into()),
            },
            _ => Err(MSG_YES_NO.into()),
        },
        QuestionType::Choice => match v {
            V::String(s) if q.option(s.trim()).is_some() => Ok(Answer::Choice(s.trim().into())),
            _ => Err(MSG_OPTION.into()),
        },
        QuestionType::Text => match v {
            V::String(s) => crate::text::required(s, TEXT_MAX)
                .map(Answer::Text)
                .map_err(|e| e.to_string()),
            _ => Err(MSG_TEXT.into()),
        },
    }
}

impl Template {
    pub fn name(&self, lang: &str) -> &str {
        if lang.starts_with("en") {
            &self.name_en
        } else {
            &self.name
        }
    }

    pub fn question(&self, key: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.key == key)
    }

    /// Whether the questions and rules fit together.
    pub fn check(&self) -> Result<(), TemplateError> {
        let mut keys = BTreeSet::new();
        for q in &self.questions {
            if !is_key(&q.key) || !keys.insert(q.key.as_str()) {
                return Err(TemplateError::BadKey(q.key.clone()));
            }
            if q.text_zh.trim().is_empty() || q.text_en.trim().is_empty() {
                return Err(TemplateError::NoText(q.key.clone()));
            }
            let option_keys: BTreeSet<&str> = q.options.iter().map(|o| o.key.as_str()).collect();
            let options_ok = if q.kind == QuestionType::Choice {
                !q.options.is_empty()
                    && option_keys.len() == q.options.len()
                    && q.options.iter().all(|o| is_key(&o.key))
            } else {
                q.options.is_empty()
            };
            if !options_ok {
                return Err(TemplateError::BadOptions(q.key.clone()));
            }
        }
        for r in &self.rules {
            let q = self
                .question(&r.question)
                .ok_or_else(|| TemplateError::UnknownQuestion(r.question.clone()))?;
            let fits = match (&r.poor_when, q.kind) {
                (PoorWhen::RatingAtMost(n), QuestionType::Rating) => {
                    (RATING_MIN..RATING_MAX).contains(n)
                }
                (PoorWhen::ChoiceIn(list), QuestionType::Choice) => {
                    !list.is_empty() && list.iter().all(|k| q.option(k).is_some())
                }
                (PoorWhen::YesNoIs(_), QuestionType::YesNo) => true,
                _ => false,
            };
            if !fits {
                return Err(TemplateError::BadCondition(r.question.clone()));
            }
            if r.follow_up.kind == FollowUpKind::Consultation && r.follow_up.category.is_some() {
                return Err(TemplateError::CategoryOnConsultation(r.question.clone()));
            }
        }
        Ok(())
    }

    /// Checks every answer against its question and collects the errors by question key, so the
    /// form shows all of them at once: a required question left blank, a rating outside 1–5, an
    /// option that does not exist, a key that is not a question.
    pub fn parse_answers(
        &self,
        raw: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Answers, BTreeMap<String, String>> {
        let mut errors = BTreeMap::new();
        let mut out = BTreeMap::new();
        for (k, v) in raw {
            if self.question(k).is_none() && !blank(v) {
                errors.insert(k.clone(), MSG_UNKNOWN.to_string());
            }
        }
        for q in &self.questions {
            match raw.get(&q.key).filter(|v| !blank(v)) {
                None if q.required => {
                    errors.insert(q.key.clone(), MSG_REQUIRED.to_string());
                }
                None => {}
                Some(v) => match parse_one(q, v) {
                    Ok(a) => {
                        out.insert(q.key.clone(), a);
                    }
                    Err(e) => {
                        errors.insert(q.key.clone(), e);
                    }
                },
            }
        }
        if errors.is_empty() {
            Ok(Answers(out))
        } else {
            Err(errors)
        }
    }

    /// Which rules the answers break and the follow-up they call for.
    pub fn evaluate(&self, answers: &Answers) -> Verdict {
        let matched: Vec<Rule> = self
            .rules
            .iter()
            .filter(|r| match (&r.poor_when, answers.get(&r.question)) {
                (PoorWhen::RatingAtMost(n), Some(Answer::Rating(v))) => v <= n,
                (PoorWhen::ChoiceIn(list), Some(Answer::Choice(c))) => list.contains(c),
                (PoorWhen::YesNoIs(b), Some(Answer::YesNo(v))) => v == b,
                _ => false,
            })
            .cloned()
            .collect();
        let mut best: Option<FollowUp> = None;
        for r in &matched {
            let f = r.follow_up;
            best = match best {
                Some(b) if (f.kind.rank(), f.priority) <= (b.kind.rank(), b.priority) => Some(b),
                _ => Some(f),
            };
        }
        // A complaint without a category takes the first category a matched complaint rule names.
        if let Some(b) = &mut best
            && b.kind == FollowUpKind::Complaint
            && b.category.is_none()
        {
            b.category = matched
                .iter()
                .filter(|r| r.follow_up.kind == FollowUpKind::Complaint)
                .find_map(|r| r.follow_up.category);
        }
        Verdict {
            follow_up: best,
            matched,
        }
    }

    /// An answer as the person reading it understands it ("4 / 5", "否", the option's text).
    pub fn show(&self, key: &str, value: &serde_json::Value, lang: &str) -> String {
        let en = lang.starts_with("en");
        let Some(q) = self.question(key) else {
            return match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
        };
        match parse_one(q, value) {
            Ok(Answer::Rating(n)) => format!("{n} / {RATING_MAX}"),
            Ok(Answer::YesNo(true)) => if en { "Yes" } else { "是" }.into(),
            Ok(Answer::YesNo(false)) => if en { "No" } else { "否" }.into(),
            Ok(Answer::Choice(c)) => q.option(&c).map_or(c.clone(), |o| o.text(lang).into()),
            Ok(Answer::Text(t)) => t,
            Err(_) => match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        }
    }

    /// A matched rule in words, for the follow-up ticket ("满意度 ≤ 2").
    pub fn describe_rule(&self, r: &Rule, lang: &str) -> String {
        let en = lang.starts_with("en");
        let q = self
            .question(&r.question)
            .map_or(r.question.as_str(), |q| q.text(lang));
        match &r.poor_when {
            PoorWhen::RatingAtMost(n) => format!("{q} ≤ {n}"),
            PoorWhen::YesNoIs(b) => {
                let v = match (b, en) {
                    (true, true) => "Yes",
                    (false, true) => "No",
                    (true, false) => "是",
                    (false, false) => "否",
                };
                format!("{q} = {v}")
            }
            PoorWhen::ChoiceIn(list) => {
                let texts: Vec<String> = list
                    .iter()
                    .map(|k| {
                        self.question(&r.question)
                            .and_then(|q| q.option(k))
                            .map_or(k.clone(), |o| o.text(lang).to_string())
                    })
                    .collect();
                format!("{q} ∈ {}", texts.join(" / "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The two templates as seeded by the migration (the store test checks the seeds match).
    pub const TICKET_QUESTIONS: &str = r#"[{"key":"satisfaction","text_zh":"您对本次服务的满意程度如何？（1 分非常不满意，5 分非常满意）","text_en":"How satisfied are you with how we handled your request? (1 = very dissatisfied, 5 = very satisfied)","type":"rating","required":true},{"key":"solved","text_zh":"您的问题是否已解决？","text_en":"Has your problem been solved?","type":"yes_no","required":true},{"key":"speed","text_zh":"您觉得处理速度如何？","text_en":"How was the speed of handling?","type":"choice","required":false,"options":[{"key":"fast","text_zh":"很快","text_en":"Fast"},{"key":"ok","text_zh":"一般","text_en":"Acceptable"},{"key":"slow","text_zh":"太慢","text_en":"Too slow"}]},{"key":"comment","text_zh":"还有什么想告诉我们的吗？","text_en":"Anything else you would like to tell us?","type":"text","required":false}]"#;
    pub const TICKET_RULES: &str = r#"[{"question":"satisfaction","poor_when":{"rating_at_most":2},"follow_up":{"kind":"complaint","priority":"high"}},{"question":"solved","poor_when":{"yes_no_is":false},"follow_up":{"kind":"complaint","priority":"high"}},{"question":"speed","poor_when":{"choice_in":["slow"]},"follow_up":{"kind":"consultation","priority":"normal"}}]"#;
    pub const VISIT_QUESTIONS: &str = r#"[{"key":"on_time","text_zh":"工程师是否按约定时间上门？","text_en":"Did the engineer arrive at the agreed time?","type":"yes_no","required":true},{"key":"attitude","text_zh":"您对工程师的服务态度打几分？（1 分非常不满意，5 分非常满意）","text_en":"How would you rate the engineer's attitude? (1 = very dissatisfied, 5 = very satisfied)","type":"rating","required":true},{"key":"fee_as_quoted","text_zh":"收费是否与出示的收费标准一致？","text_en":"Was the fee the same as the price list shown to you?","type":"yes_no","required":true},{"key":"charged_extra","text_zh":"工程师是否收取了收费标准以外的费用？","text_en":"Did the engineer charge anything beyond the price list?","type":"yes_no","required":true},{"key":"comment","text_zh":"还有什么想告诉我们的吗？","text_en":"Anything else you would like to tell us?","type":"text","required":false}]"#;
    pub const VISIT_RULES: &str = r#"[{"question":"attitude","poor_when":{"rating_at_most":2},"follow_up":{"kind":"complaint","priority":"high","category":"engineer_conduct"}},{"question":"charged_extra","poor_when":{"yes_no_is":true},"follow_up":{"kind":"complaint","priority":"high","category":"engineer_conduct"}}]"#;

    fn template(subject: SubjectKind, questions: &str, rules: &str) -> Template {
        Template {
            id: crate::SurveyTemplateId(1),
            code: "t".into(),
            name: "回访".into(),
            name_en: "Follow-up".into(),
            for_subject: subject,
            questions: serde_json::from_str(questions).unwrap(),
            rules: serde_json::from_str(rules).unwrap(),
            active: true,
            version: 1,
        }
    }

    fn ticket() -> Template {
        template(SubjectKind::Ticket, TICKET_QUESTIONS, TICKET_RULES)
    }

    fn visit() -> Template {
        template(SubjectKind::WorkOrder, VISIT_QUESTIONS, VISIT_RULES)
    }

    /// The parsed answers, or the errors by question key.
    type Want = Result<Answers, Vec<(&'static str, &'static str)>>;

    fn raw(v: serde_json::Value) -> BTreeMap<String, serde_json::Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_seeded_templates_are_consistent() {
        assert_eq!(ticket().check(), Ok(()));
        assert_eq!(visit().check(), Ok(()));
    }

    #[test]
    fn answers_are_checked_question_by_question() {
        let t = ticket();
        // (answers, Ok(parsed) or the errors by key)
        let cases: Vec<(serde_json::Value, Want)> = vec![
            (
                json!({"satisfaction": 5, "solved": true}),
                Ok(Answers(BTreeMap::from([
                    ("satisfaction".into(), Answer::Rating(5)),
                    ("solved".into(), Answer::YesNo(true)),
                ]))),
            ),
            // Form posts send strings; blanks count as unanswered.
            (
                json!({"satisfaction": "3", "solved": "no", "speed": "slow", "comment": "  "}),
                Ok(Answers(BTreeMap::from([
                    ("satisfaction".into(), Answer::Rating(3)),
                    ("solved".into(), Answer::YesNo(false)),
                    ("speed".into(), Answer::Choice("slow".into())),
                ]))),
            ),
            (
                json!({"satisfaction": 7, "solved": true}),
                Err(vec![("satisfaction", MSG_RATING)]),
            ),
            (
                json!({"satisfaction": 0, "solved": true}),
                Err(vec![("satisfaction", MSG_RATING)]),
            ),
            (
                json!({"satisfaction": 4.5, "solved": true}),
                Err(vec![("satisfaction", MSG_RATING)]),
            ),
            (
                json!({"solved": true}),
                Err(vec![("satisfaction", MSG_REQUIRED)]),
            ),
            (
                json!({"satisfaction": "", "solved": null}),
                Err(vec![
                    ("satisfaction", MSG_REQUIRED),
                    ("solved", MSG_REQUIRED),
                ]),
            ),
            (
                json!({"satisfaction": 4, "solved": "maybe"}),
                Err(vec![("solved", MSG_YES_NO)]),
            ),
            (
                json!({"satisfaction": 4, "solved": true, "speed": "lightning"}),
                Err(vec![("speed", MSG_OPTION)]),
            ),
            (
                json!({"satisfaction": 4, "solved": true, "colour": "red"}),
                Err(vec![("colour", MSG_UNKNOWN)]),
            ),
            (
                json!({"satisfaction": 4, "solved": true, "comment": 12}),
                Err(vec![("comment", MSG_TEXT)]),
            ),
            (
                json!({"satisfaction": 4, "solved": true, "comment": "x".repeat(TEXT_MAX + 1)}),
                Err(vec![("comment", "too long (at most 2000 characters)")]),
            ),
        ];
        for (input, want) in cases {
            let got = t.parse_answers(&raw(input.clone()));
            match want {
                Ok(a) => assert_eq!(got, Ok(a), "{input}"),
                Err(list) => {
                    let want: BTreeMap<String, String> = list
                        .into_iter()
                        .map(|(k, m)| (k.to_string(), m.to_string()))
                        .collect();
                    assert_eq!(got, Err(want), "{input}");
                }
            }
        }
    }

    fn verdict(t: &Template, v: serde_json::Value) -> Verdict {
        t.evaluate(&t.parse_answers(&raw(v)).unwrap())
    }

    #[test]
    fn ticket_rules_decide_poor_and_the_follow_up() {
        let t = ticket();
        let complaint = Some(FollowUp {
            kind: FollowUpKind::Complaint,
            priority: Priority::High,
            category: None,
        });
        let cases = [
            (json!({"satisfaction": 5, "solved": true}), None, 0),
            (json!({"satisfaction": 3, "solved": true}), None, 0),
            (json!({"satisfaction": 2, "solved": true}), complaint, 1),
            (json!({"satisfaction": 1, "solved": false}), complaint, 2),
            (json!({"satisfaction": 4, "solved": false}), complaint, 1),
            (
                json!({"satisfaction": 4, "solved": true, "speed": "slow"}),
                Some(FollowUp {
                    kind: FollowUpKind::Consultation,
                    priority: Priority::Normal,
                    category: None,
                }),
                1,
            ),
            // The complaint wins over the consultation when both match.
            (
                json!({"satisfaction": 1, "solved": true, "speed": "slow"}),
                complaint,
                2,
            ),
            (
                json!({"satisfaction": 4, "solved": true, "speed": "fast"}),
                None,
                0,
            ),
        ];
        for (input, follow_up, matched) in cases {
            let v = verdict(&t, input.clone());
            assert_eq!(v.follow_up, follow_up, "{input}");
            assert_eq!(v.matched.len(), matched, "{input}");
            assert_eq!(v.poor(), matched > 0, "{input}");
        }
    }

    #[test]
    fn the_visit_template_evaluates_its_own_rules() {
        let t = visit();
        let conduct = Some(FollowUp {
            kind: FollowUpKind::Complaint,
            priority: Priority::High,
            category: Some(ComplaintCategory::EngineerConduct),
        });
        let ok =
            json!({"on_time": true, "attitude": 5, "fee_as_quoted": true, "charged_extra": false});
        let cases = [
            (ok.clone(), None, vec![]),
            // Late, or a fee that differs from the list, is noted but not poor by these rules.
            (
                json!({"on_time": false, "attitude": 4, "fee_as_quoted": false, "charged_extra": false}),
                None,
                vec![],
            ),
            (
                json!({"on_time": true, "attitude": 2, "fee_as_quoted": true, "charged_extra": false}),
                conduct,
                vec!["attitude"],
            ),
            // 乱收费: charged beyond the list.
            (
                json!({"on_time": true, "attitude": 5, "fee_as_quoted": true, "charged_extra": "yes"}),
                conduct,
                vec!["charged_extra"],
            ),
            (
                json!({"on_time": true, "attitude": 1, "fee_as_quoted": false, "charged_extra": true}),
                conduct,
                vec!["attitude", "charged_extra"],
            ),
        ];
        for (input, follow_up, keys) in cases {
            let v = verdict(&t, input.clone());
            assert_eq!(v.follow_up, follow_up, "{input}");
            let got: Vec<&str> = v.matched.iter().map(|r| r.question.as_str()).collect();
            assert_eq!(got, keys, "{input}");
        }
        // Its questions are its own: a ticket question is unknown here, a missing one required.
        let errs = t
            .parse_answers(&raw(json!({"satisfaction": 5, "on_time": true})))
            .unwrap_err();
        assert_eq!(
            errs.get("satisfaction").map(String::as_str),
            Some(MSG_UNKNOWN)
        );
        assert_eq!(errs.get("attitude").map(String::as_str), Some(MSG_REQUIRED));
        assert_eq!(
            errs.get("charged_extra").map(String::as_str),
            Some(MSG_REQUIRED)
        );
    }

    #[test]
    fn templates_whose_rules_do_not_fit_are_refused() {
        let q = |extra: &str| {
            format!(
                r#"[{{"key":"score","text_zh":"评分","text_en":"Score","type":"rating","required":true}},{{"key":"pick","text_zh":"选择","text_en":"Pick","type":"choice","options":[{{"key":"a","text_zh":"甲","text_en":"A"}}]}}{extra}]"#
            )
        };
        let rule = |r: &str| format!("[{r}]");
        let fu = r#""follow_up":{"kind":"complaint","priority":"high"}"#;
        let cases = [
            (
                q(""),
                rule(&format!(
                    r#"{{"question":"score","poor_when":{{"rating_at_most":2}},{fu}}}"#
                )),
                Ok(()),
            ),
            (
                q(""),
                rule(&format!(
                    r#"{{"question":"nope","poor_when":{{"rating_at_most":2}},{fu}}}"#
                )),
                Err(TemplateError::UnknownQuestion("nope".into())),
            ),
            (
                q(""),
                rule(&format!(
                    r#"{{"question":"score","poor_when":{{"rating_at_most":5}},{fu}}}"#
                )),
                Err(TemplateError::BadCondition("score".into())),
            ),
            (
                q(""),
                rule(&format!(
                    r#"{{"question":"score","poor_when":{{"yes_no_is":false}},{fu}}}"#
                )),
                Err(TemplateError::BadCondition("score".into())),
            ),
            (
                q(""),
                rule(&format!(
                    r#"{{"question":"pick","poor_when":{{"choice_in":["z"]}},{fu}}}"#
                )),
                Err(TemplateError::BadCondition("pick".into())),
            ),
            (
                q(""),
                rule(
                    r#"{"question":"pick","poor_when":{"choice_in":["a"]},"follow_up":{"kind":"consultation","priority":"low","category":"hotline"}}"#,
                ),
                Err(TemplateError::CategoryOnConsultation("pick".into())),
            ),
            (
                q(r#",{"key":"score","text_zh":"再","text_en":"Again","type":"yes_no"}"#),
                "[]".into(),
                Err(TemplateError::BadKey("score".into())),
            ),
            (
                q(r#",{"key":"Bad Key","text_zh":"再","text_en":"Again","type":"yes_no"}"#),
                "[]".into(),
                Err(TemplateError::BadKey("Bad Key".into())),
            ),
            (
                q(r#",{"key":"c","text_zh":"再","text_en":"Again","type":"choice"}"#),
                "[]".into(),
                Err(TemplateError::BadOptions("c".into())),
            ),
            (
                q(r#",{"key":"c","text_zh":"","text_en":"Again","type":"text"}"#),
                "[]".into(),
                Err(TemplateError::NoText("c".into())),
            ),
        ];
        for (questions, rules, want) in cases {
            let t = template(SubjectKind::Ticket, &questions, &rules);
            assert_eq!(t.check(), want, "{questions} {rules}");
        }
    }

    #[test]
    fn answers_are_shown_in_the_readers_language() {
        let t = ticket();
        assert_eq!(t.show("satisfaction", &json!(4), "zh-CN"), "4 / 5");
        assert_eq!(t.show("solved", &json!(false), "zh-CN"), "否");
        assert_eq!(t.show("solved", &json!(true), "en"), "Yes");
        assert_eq!(t.show("speed", &json!("slow"), "zh-CN"), "太慢");
        assert_eq!(t.show("speed", &json!("slow"), "en"), "Too slow");
        assert_eq!(t.show("comment", &json!("师傅很好"), "en"), "师傅很好");
        assert_eq!(t.show("gone", &json!(3), "zh-CN"), "3");
        let parsed = t
            .parse_answers(&raw(json!({"satisfaction": 1, "solved": false})))
            .unwrap();
        assert_eq!(
            parsed.to_json(),
            json!({"satisfaction": 1, "solved": false})
        );
        let v = t.evaluate(&parsed);
        assert_eq!(
            t.describe_rule(&v.matched[0], "zh-CN"),
            "您对本次服务的满意程度如何？（1 分非常不满意，5 分非常满意） ≤ 2"
        );
        assert_eq!(
            t.describe_rule(&v.matched[1], "en"),
            "Has your problem been solved? = No"
        );
    }
}
