//! Follow-up surveys (回访, SPEC F5): a questionnaire about a ticket (and, with field service, a
//! work order) is sent as a signed link the customer opens without signing in, or put to the
//! customer on a call by an agent who records the answers. Each invitation is answered once. A
//! poor answer — as the template's rules define it — opens a follow-up ticket in the intake queue
//! in the same transaction as the response, with the answers in its description, a history row on
//! the original ticket and a line on the customer's timeline.
//!
//! `invite_in_tx` runs inside another write transaction (closing a ticket sends its survey link in
//! the closing notification); `invite` is the stand-alone use case behind the API.

use std::collections::BTreeMap;
use std::sync::Arc;

use domain::customer::TimelineKind;
use domain::survey::{
    Answers, FollowUp, FollowUpKind, InvitationStatus, SubjectKind, SurveyChannel, Template,
    Verdict,
};
use domain::ticket::{Channel, Owner, Ticket, TicketState, TicketStatus};
use domain::{
    BrandId, Cursor, CustomerId, OrgUnitId, Permission, Phone, Scope, SurveyInvitationId, TicketId,
    Timestamp, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::surveys::{self, InvitationQuery, InvitationRecord, NewInvitation, NewResponse};
use store::tickets::{self, NewEvent};
use store::timeline::{self, NewEntry};
use store::{Conn, org};
use utoipa::ToSchema;

use crate::admin::{AuditEntry, audit_entry};
use crate::error::Fields;
use crate::once::create_once;
use crate::{App, Ctx, Error, FixedClock, Result};

/// The questionnaire sent when a ticket closes (受理单回访).
pub const TICKET_TEMPLATE: &str = "ticket_followup";
/// The questionnaire after an on-site visit (上门服务回访), for work orders.
pub const VISIT_TEMPLATE: &str = "visit_followup";
/// How long a link stays open: F5 asks for the follow-up within 24–72 h; a week leaves the
/// customer room to answer late.
pub const LINK_VALID_MS: i64 = 7 * 24 * 3600 * 1000;
/// Refusal of a second answer to the same questionnaire.
pub const ALREADY_ANSWERED: &str = "this survey has already been answered";
/// An agent trying to record on an invitation that a newer one replaced or that ran out.
pub const INVITATION_EXPIRED: &str = "this survey invitation has expired; send a new one";

const SUBJECT_MAX: usize = 200;

/// The public page of a link key.
pub fn link_of(key: &str) -> String {
    format!("/s/{key}")
}

// ---------------------------------------------------------------- subjects

/// What a survey is about, as the caller knows it: the human number, brand and customer go on
/// the invitation so that it is listed and scoped without reading the subject again.
#[derive(Debug, Clone)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: i64,
    /// The subject's human number (KF…, WO…).
    pub label: String,
    pub brand_id: Option<BrandId>,
    pub customer_id: Option<CustomerId>,
}

impl Subject {
    pub fn of_ticket(t: &Ticket) -> Self {
        Self {
            kind: SubjectKind::Ticket,
            id: t.id().0,
            label: t.number.clone(),
            brand_id: t.brand_id,
            customer_id: t.customer_id.or(t.requester_id),
        }
    }
}

/// An invitation just made: its id, the link to send and until when it works.
#[derive(Debug, Clone)]
pub struct Invited {
    pub id: SurveyInvitationId,
    /// `/s/{key}` — relative to the server's public address; the key is shown only here.
    pub link: String,
    pub expires_at: Timestamp,
    /// When it was made: the time of its outbox messages too, which finds them again.
    pub created_at: Timestamp,
}

/// Sends `template` about `subject` inside the caller's write transaction (no permission check:
/// the caller's use case made it). An earlier unanswered invitation about the same subject and
/// template stops working. Writes the invitation, a history row when the subject is a ticket,
/// and the audit row.
pub async fn invite_in_tx(
    c: &mut Conn,
    ctx: &Ctx,
    subject: &Subject,
    template_code: &str,
    channel: SurveyChannel,
) -> Result<Invited> {
    let template = match surveys::template_by_code(c, template_code).await {
        Ok(t) => t,
        Err(store::Error::NotFound) => {
            return Err(Error::field("template", "unknown survey template"));
        }
        Err(e) => return Err(e.into()),
    };
    if !template.active {
        return Err(Error::field(
            "template",
            "this survey template is not in use",
        ));
    }
    if template.for_subject != subject.kind {
        return Err(Error::field(
            "template",
            "the template is for another kind of subject",
        ));
    }
    let now = ctx.now();
    let key = crate::secret::random_token();
    let hash = crate::secret::digest(&key);
    let expires_at = now.plus_millis(LINK_VALID_MS);
    surveys::expire_open(c, template.id, subject.kind, subject.id, now).await?;
    let id = surveys::insert_invitation(
        c,
        &NewInvitation {
            template: &template,
            subject_kind: subject.kind,
            subject_id: subject.id,
            subject_label: &subject.label,
            brand_id: subject.brand_id,
            customer_id: subject.customer_id,
            channel,
            token_hash: &hash,
            expires_at,
            created_by: ctx.actor.user_id(),
            at: now,
        },
    )
    .await?;
    if subject.kind == SubjectKind::Ticket {
        let t = tickets::get(c, &Scope::All, TicketId(subject.id)).await?;
        ticket_event(
            c,
            &t,
            now,
            ctx.actor.user_id(),
            None,
            "survey_sent",
            json!({ "invitation": id.0, "template": template.code, "channel": channel.as_str() }),
        )
        .await?;
    }
    audit_entry(ctx, "invite", "survey_invitation")
        .write(
            c,
            Some(id.0),
            subject.brand_id,
            None,
            Some(json!({
                "template": template.code,
                "subject": subject.kind.as_str(),
                "subject_id": subject.id,
                "channel": channel.as_str(),
            })),
        )
        .await?;
    Ok(Invited {
        id,
        link: link_of(&key),
        expires_at,
        created_at: now,
    })
}

// ---------------------------------------------------------------- inputs and views

/// A survey to send.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteInput {
    /// ticket | `work_order`
    pub subject_kind: String,
    pub subject_id: i64,
    /// The template's code (default `ticket_followup` for tickets, `visit_followup` for work
    /// orders).
    #[serde(default)]
    pub template: Option<String>,
    /// link | call (default link)
    #[serde(default)]
    pub channel: Option<String>,
}

/// The answers by question key: a number 1–5 for ratings, true/false (or "yes"/"no") for yes/no
/// questions, an option key for choices, text for text questions.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersInput {
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitedView {
    pub id: i64,
    /// The page the customer answers on (absolute when `KEFU_PUBLIC_URL` is set, else relative
    /// to the server's address). Shown once: `null` when the answer replays an earlier request
    /// with the same `Idempotency-Key`.
    pub link: Option<String>,
    pub expires_at: String,
    /// How the link was sent to the customer: `sms` (a mobile and the `survey.invite` SMS
    /// template), `email` (an address); empty for a call or when neither is known.
    pub sent_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OptionView {
    pub key: String,
    pub text_zh: String,
    pub text_en: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuestionView {
    pub key: String,
    pub text_zh: String,
    pub text_en: String,
    /// rating | choice | `yes_no` | text
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub options: Vec<OptionView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub name_en: String,
    /// ticket | `work_order`
    pub for_subject: String,
    pub questions: Vec<QuestionView>,
    /// `{question, poor_when: {rating_at_most | choice_in | yes_no_is}, follow_up: {kind, priority, category?}}`
    #[schema(value_type = Vec<Object>)]
    pub rules: serde_json::Value,
    pub active: bool,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnswerView {
    pub key: String,
    /// The question in the reader's language.
    pub question: String,
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    /// The answer as a person reads it ("4 / 5", "否", the option's text).
    pub shown: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResponseView {
    pub answers: Vec<AnswerView>,
    pub poor: bool,
    /// link | call
    pub channel: String,
    pub recorded_by: Option<i64>,
    pub recorded_by_name: Option<String>,
    pub follow_up_ticket_id: Option<i64>,
    pub follow_up_number: Option<String>,
    pub answered_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: i64,
    pub template: String,
    pub template_name: String,
    /// ticket | `work_order`
    pub subject_kind: String,
    pub subject_id: i64,
    pub subject_label: String,
    pub brand_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    /// Whole or masked, as the reader's role allows.
    pub customer_phone: Option<String>,
    /// link | call
    pub channel: String,
    /// sent | answered | expired (a sent invitation past its time shows as expired)
    pub status: String,
    pub expires_at: String,
    pub created_at: String,
    pub response: Option<ResponseView>,
}

/// A page of invitations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationPage {
    pub items: Vec<InvitationView>,
    pub next_cursor: Option<String>,
}

/// Which invitations.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct InvitationListInput {
    #[serde(default)]
    pub subject_kind: Option<String>,
    #[serde(default)]
    pub subject_id: Option<i64>,
    /// Only those still waiting for an answer.
    #[serde(default)]
    pub pending: Option<bool>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// What an answer led to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnswerOutcome {
    pub invitation_id: i64,
    pub poor: bool,
    pub follow_up_ticket_id: Option<i64>,
    pub follow_up_number: Option<String>,
    /// A retry of the answer recorded earlier (the same answers): nothing was recorded again.
    #[serde(skip)]
    pub replayed: bool,
}

impl AnswerOutcome {
    /// What an answered invitation's response made: a retry that sends the same answers gets
    /// it again (one answer per invitation, and a retried request never duplicates); other
    /// answers are refused.
    fn replay(
        r: &InvitationRecord,
        template: &Template,
        raw: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Self> {
        let Some(recorded) = &r.response else {
            return Err(Error::Conflict(ALREADY_ANSWERED.into()));
        };
        let same = template
            .parse_answers(raw)
            .ok()
            .and_then(|a| {
                serde_json::from_value::<BTreeMap<String, serde_json::Value>>(a.to_json()).ok()
            })
            .is_some_and(|a| a == recorded.answers);
        if !same {
            return Err(Error::Conflict(ALREADY_ANSWERED.into()));
        }
        Ok(Self {
            invitation_id: r.id.0,
            poor: recorded.poor,
            follow_up_ticket_id: recorded.follow_up_ticket_id.map(|t| t.0),
            follow_up_number: recorded.follow_up_number.clone(),
            replayed: true,
        })
    }
}

/// What the customer's page shows.
#[derive(Debug, Clone)]
pub struct PublicSurvey {
    pub template: Template,
    pub subject_label: String,
    /// Answered already: the page thanks instead of asking again.
    pub answered: bool,
}

fn ts(app: &App, t: Timestamp) -> String {
    t.rfc3339_in(app.settings.tz)
}

/// A template as the API and the pages show it.
pub fn template_view(t: &Template) -> TemplateView {
    TemplateView {
        id: t.id.0,
        code: t.code.clone(),
        name: t.name.clone(),
        name_en: t.name_en.clone(),
        for_subject: t.for_subject.as_str().into(),
        questions: t
            .questions
            .iter()
            .map(|q| QuestionView {
                key: q.key.clone(),
                text_zh: q.text_zh.clone(),
                text_en: q.text_en.clone(),
                kind: q.kind.as_str().into(),
                required: q.required,
                options: q
                    .options
                    .iter()
                    .map(|o| OptionView {
                        key: o.key.clone(),
                        text_zh: o.text_zh.clone(),
                        text_en: o.text_en.clone(),
                    })
                    .collect(),
            })
            .collect(),
        rules: serde_json::to_value(&t.rules).unwrap_or(serde_json::Value::Null),
        active: t.active,
        version: t.version,
    }
}

fn invitation_view(
    app: &App,
    ctx: &Ctx,
    r: &InvitationRecord,
    templates: &[Template],
) -> InvitationView {
    let lang = ctx.locale.as_str();
    let template = templates.iter().find(|t| t.id == r.template_id);
    let status = if r.status == InvitationStatus::Sent && r.expires_at <= ctx.now() {
        InvitationStatus::Expired
    } else {
        r.status
    };
    let response = r.response.as_ref().map(|resp| {
        // Answers in the template's question order; keys it no longer has come last.
        let mut answers: Vec<AnswerView> = Vec::new();
        if let Some(t) = template {
            for q in &t.questions {
                if let Some(v) = resp.answers.get(&q.key) {
                    answers.push(AnswerView {
                        key: q.key.clone(),
                        question: q.text(lang).to_string(),
                        value: v.clone(),
                        shown: t.show(&q.key, v, lang),
                    });
                }
            }
        }
        for (k, v) in &resp.answers {
            if !answers.iter().any(|a| &a.key == k) {
                answers.push(AnswerView {
                    key: k.clone(),
                    question: k.clone(),
                    value: v.clone(),
                    shown: template.map_or_else(|| v.to_string(), |t| t.show(k, v, lang)),
                });
            }
        }
        ResponseView {
            answers,
            poor: resp.poor,
            channel: resp.channel.as_str().into(),
            recorded_by: resp.recorded_by.map(|u| u.0),
            recorded_by_name: resp.recorded_by_name.clone(),
            follow_up_ticket_id: resp.follow_up_ticket_id.map(|t| t.0),
            follow_up_number: resp.follow_up_number.clone(),
            answered_at: ts(app, resp.answered_at),
        }
    });
    InvitationView {
        id: r.id.0,
        template: r.template_code.clone(),
        template_name: template.map_or_else(|| r.template_code.clone(), |t| t.name(lang).into()),
        subject_kind: r.subject_kind.as_str().into(),
        subject_id: r.subject_id,
        subject_label: r.subject_label.clone(),
        brand_id: r.brand_id.map(|b| b.0),
        customer_id: r.customer_id.map(|c| c.0),
        customer_name: r.customer_name.clone(),
        customer_phone: r
            .customer_phone
            .as_deref()
            .map(|p| Phone::parse(p).map_or_else(|_| p.to_string(), |p| ctx.show_phone(&p))),
        channel: r.channel.as_str().into(),
        status: status.as_str().into(),
        expires_at: ts(app, r.expires_at),
        created_at: ts(app, r.created_at),
        response,
    }
}

fn parse_channel(f: &mut Fields, v: Option<&str>) -> SurveyChannel {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => SurveyChannel::Link,
        Some(s) => SurveyChannel::parse(s).unwrap_or_else(|| {
            f.add("channel", "link or call");
            SurveyChannel::Link
        }),
    }
}

// ---------------------------------------------------------------- use cases

/// The questionnaires there are.
pub async fn templates(app: &App, ctx: &Ctx) -> Result<Vec<TemplateView>> {
    ctx.require(Permission::TicketRead)?;
    let list = app
        .db
        .read(|c| Box::pin(async move { surveys::templates(c).await }))
        .await?;
    Ok(list.iter().map(template_view).collect())
}

/// Sends a survey about a ticket by link or marks it for a call. Sending again without an
/// Idempotency-Key makes a new invitation and retires the earlier one, so only one link works at
/// a time. With a key, a retry sends nothing: it answers with the first invitation (its id, expiry
/// and channels, not its link, which was shown once) and `replayed`.
pub async fn invite(app: &App, ctx: &Ctx, input: InviteInput) -> Result<(InvitedView, bool)> {
    ctx.require(Permission::TicketWork)?;
    let mut f = Fields::new();
    let kind = SubjectKind::parse(input.subject_kind.trim());
    if kind.is_none() {
        f.add("subject_kind", "ticket or work_order");
    }
    let channel = parse_channel(&mut f, input.channel.as_deref());
    f.finish()?;
    let kind = kind.ok_or_else(|| Error::field("subject_kind", "ticket or work_order"))?;
    let template = input
        .template
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(match kind {
            SubjectKind::Ticket => TICKET_TEMPLATE,
            SubjectKind::WorkOrder => VISIT_TEMPLATE,
        })
        .to_string();
    if kind == SubjectKind::WorkOrder {
        // Work orders arrive with field service; until then there is none to survey.
        return Err(Error::field(
            "subject_kind",
            "work orders cannot be surveyed yet",
        ));
    }
    let scope = ctx.scope.clone();
    let id = TicketId(input.subject_id);
    let ctx2 = ctx.clone();
    let settings = app.settings.clone();
    // What the write made, known only inside it: the first answer needs no read after it.
    let made = Arc::new(std::sync::Mutex::new(None::<(Invited, Vec<String>)>));
    let made_w = made.clone();
    let created = create_once(app, ctx, SurveyInvitationId, move |c| {
        Box::pin(async move {
            let t = tickets::get(c, &scope, id)
                .await
                .map_err(|_| Error::field("subject_id", "unknown ticket"))?;
            let invited =
                invite_in_tx(c, &ctx2, &Subject::of_ticket(&t), &template, channel).await?;
            let sent_by = if channel == SurveyChannel::Link {
                let link = settings.public_link(&invited.link);
                let sms = settings.sms_templates.get(INVITE_SMS_TEMPLATE);
                send_invitation(c, &t, &link, sms.map(String::as_str), invited.created_at).await?
            } else {
                Vec::new()
            };
            let iid = invited.id.0;
            *made_w.lock().expect("not poisoned") = Some((invited, sent_by));
            Ok(iid)
        })
    })
    .await?;
    if !created.replayed
        && let Some((invited, sent_by)) = made.lock().expect("not poisoned").take()
    {
        let view = InvitedView {
            id: invited.id.0,
            link: Some(app.settings.public_link(&invited.link)),
            expires_at: ts(app, invited.expires_at),
            sent_by,
        };
        return Ok((view, false));
    }
    // A replay: the invitation as stored, and the messages its first request put in the outbox.
    // The key is the principal's own, and its first request passed the scope check.
    let iid = created.id;
    let sms = app.settings.sms_templates.get(INVITE_SMS_TEMPLATE).cloned();
    let (r, sent_by) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let r = surveys::get(c, &Scope::All, iid).await?;
                let sent_by = sent_for(c, &r, sms.as_deref()).await?;
                Ok::<_, Error>((r, sent_by))
            })
        })
        .await?;
    let view = InvitedView {
        id: r.id.0,
        link: None,
        expires_at: ts(app, r.expires_at),
        sent_by,
    };
    Ok((view, created.replayed))
}

/// The channels an invitation's link went out by: its messages are the survey ones about its
/// ticket put in the outbox at the moment it was made (`send_invitation` gives them that time).
/// A replay follows its request closely, so they are among the ticket's latest messages.
async fn sent_for(
    c: &mut Conn,
    r: &InvitationRecord,
    sms_template: Option<&str>,
) -> Result<Vec<String>> {
    if r.channel != SurveyChannel::Link || r.subject_kind != SubjectKind::Ticket {
        return Ok(Vec::new());
    }
    let page = store::outbox::list(
        c,
        &Scope::All,
        &store::outbox::OutboxQuery {
            about: Some(("ticket".into(), r.subject_id)),
            limit: 200,
            ..store::outbox::OutboxQuery::default()
        },
    )
    .await?;
    let mut mine: Vec<_> = page
        .items
        .into_iter()
        .filter(|m| {
            m.created_at == r.created_at
                && match m.channel {
                    store::outbox::Channel::Sms => Some(m.template.as_str()) == sms_template,
                    store::outbox::Channel::Email => m.template == INVITE_SMS_TEMPLATE,
                    _ => false,
                }
        })
        .collect();
    // Sent in the order `send_invitation` puts them: SMS first, then email.
    mine.sort_by_key(|m| m.id.0);
    Ok(mine
        .into_iter()
        .map(|m| m.channel.as_str().to_string())
        .collect())
}

/// The key of the SMS template for a survey an agent sends (`KEFU_SMS_TEMPLATE_SURVEY_INVITE`).
pub const INVITE_SMS_TEMPLATE: &str = "survey.invite";

/// Puts the survey link into the outbox for the ticket's requester (same transaction as the
/// invitation): by SMS to a mobile when the template is configured, by email to an address. The
/// ticket's contact details come first, the customer's record second. Returns the channels used.
async fn send_invitation(
    c: &mut Conn,
    t: &Ticket,
    link: &str,
    sms_template: Option<&str>,
    at: Timestamp,
) -> Result<Vec<String>> {
    let customer = match t.customer_id.or(t.requester_id) {
        Some(id) => Some(store::customers::get(c, &Scope::All, id).await?),
        None => None,
    };
    let mobile = t
        .contact_phone
        .as_deref()
        .and_then(|p| Phone::parse(p).ok())
        .or_else(|| customer.as_ref().and_then(|c| c.phone.clone()))
        .filter(Phone::is_mobile);
    let email = t
        .contact_email
        .clone()
        .or_else(|| customer.as_ref().and_then(|c| c.email.clone()));
    let mut sent = Vec::new();
    if let (Some(phone), Some(code)) = (mobile, sms_template) {
        store::outbox::insert(
            c,
            &store::outbox::NewMessage {
                channel: store::outbox::Channel::Sms,
                recipient: phone.as_str().to_string(),
                template: code.to_string(),
                payload: json!({ "number": t.number, "link": link }),
                ref_entity: Some("ticket".into()),
                ref_id: Some(t.id().0),
                brand_id: t.brand_id,
            },
            at,
        )
        .await?;
        sent.push("sms".to_string());
    }
    if let Some(address) = email {
        store::outbox::insert(
            c,
            &store::outbox::NewMessage {
                channel: store::outbox::Channel::Email,
                recipient: address,
                template: INVITE_SMS_TEMPLATE.into(),
                payload: json!({
                    "subject": format!("请评价服务请求 {}", t.number),
                    "body": format!("感谢您联系我们。请花一分钟评价本次服务（{}）：\n\n{link}", t.number),
                    "ticket": t.number,
                }),
                ref_entity: Some("ticket".into()),
                ref_id: Some(t.id().0),
                brand_id: t.brand_id,
            },
            at,
        )
        .await?;
        sent.push("email".to_string());
    }
    Ok(sent)
}

/// Invitations about a subject, or the ones still waiting for an answer.
pub async fn list(app: &App, ctx: &Ctx, input: InvitationListInput) -> Result<InvitationPage> {
    ctx.require(Permission::TicketRead)?;
    let mut f = Fields::new();
    let subject = match (input.subject_kind.as_deref(), input.subject_id) {
        (None, None) => None,
        (Some(k), Some(id)) => {
            let kind = SubjectKind::parse(k.trim());
            if kind.is_none() {
                f.add("subject_kind", "ticket or work_order");
            }
            kind.map(|k| (k, id))
        }
        (None, Some(_)) => {
            f.add("subject_kind", "required");
            None
        }
        (Some(_), None) => {
            f.add("subject_id", "required");
            None
        }
    };
    let before = match input.cursor.as_deref() {
        Some(s) => {
            let c = Cursor::decode(s);
            if c.is_none() {
                f.add("cursor", "not a cursor this server issued");
            }
            c.map(|c| SurveyInvitationId(c.id))
        }
        None => None,
    };
    f.finish()?;
    let q = InvitationQuery {
        subject,
        customer: None,
        pending_at: input.pending.unwrap_or(false).then(|| ctx.now()),
        before,
        limit: domain::cursor::limit(input.limit),
    };
    let scope = ctx.scope.clone();
    let (page, templates) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let page = surveys::list(c, &scope, &q).await?;
                let templates = surveys::templates(c).await?;
                Ok::<_, store::Error>((page, templates))
            })
        })
        .await?;
    Ok(InvitationPage {
        items: page
            .items
            .iter()
            .map(|r| invitation_view(app, ctx, r, &templates))
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    })
}

/// One invitation with its questionnaire (the agent's page).
pub async fn get(
    app: &App,
    ctx: &Ctx,
    id: SurveyInvitationId,
) -> Result<(InvitationView, TemplateView)> {
    ctx.require(Permission::TicketRead)?;
    let scope = ctx.scope.clone();
    let (r, t) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let r = surveys::get(c, &scope, id).await?;
                let t = surveys::template(c, r.template_id).await?;
                Ok::<_, store::Error>((r, t))
            })
        })
        .await?;
    let view = invitation_view(app, ctx, &r, std::slice::from_ref(&t));
    Ok((view, template_view(&t)))
}

async fn by_key(c: &mut Conn, key: &str) -> std::result::Result<InvitationRecord, store::Error> {
    // An empty or absurd key cannot be one we issued; spare the lookup.
    if key.is_empty() || key.len() > 100 {
        return Err(store::Error::NotFound);
    }
    surveys::by_token_hash(c, &crate::secret::digest(key)).await
}

/// The questionnaire behind a link (no sign-in). A forged key, an expired link or one replaced
/// by a newer invitation → not found; an answered one says so.
pub async fn public_form(app: &App, now: Timestamp, key: &str) -> Result<PublicSurvey> {
    let key = key.to_string();
    let (r, t) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let r = by_key(c, &key).await?;
                let t = surveys::template(c, r.template_id).await?;
                Ok::<_, store::Error>((r, t))
            })
        })
        .await?;
    if r.status == InvitationStatus::Answered {
        return Ok(PublicSurvey {
            template: t,
            subject_label: r.subject_label,
            answered: true,
        });
    }
    if !r.open_at(now) {
        return Err(Error::NotFound);
    }
    Ok(PublicSurvey {
        template: t,
        subject_label: r.subject_label,
        answered: false,
    })
}

/// The customer answers through the link (no sign-in).
pub async fn answer_by_link(
    app: &App,
    now: Timestamp,
    key: &str,
    answers: BTreeMap<String, serde_json::Value>,
) -> Result<AnswerOutcome> {
    let k = key.to_string();
    let (r, t) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let r = by_key(c, &k).await?;
                let t = surveys::template(c, r.template_id).await?;
                Ok::<_, store::Error>((r, t))
            })
        })
        .await?;
    if r.status == InvitationStatus::Answered {
        return AnswerOutcome::replay(&r, &t, &answers);
    }
    if !r.open_at(now) {
        return Err(Error::NotFound);
    }
    let ctx = Ctx::system("survey_link", Arc::new(FixedClock::at(now)));
    let first = respond(app, &ctx, r, t.clone(), &answers, SurveyChannel::Link).await;
    let k = key.to_string();
    replay_if_answered(app, first, &t, &answers, move |c| {
        Box::pin(async move { by_key(c, &k).await })
    })
    .await
}

/// An agent records what the customer said on the phone.
pub async fn record_on_call(
    app: &App,
    ctx: &Ctx,
    id: SurveyInvitationId,
    answers: BTreeMap<String, serde_json::Value>,
) -> Result<AnswerOutcome> {
    ctx.require(Permission::TicketWork)?;
    let scope = ctx.scope.clone();
    let (r, t) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let r = surveys::get(c, &scope, id).await?;
                let t = surveys::template(c, r.template_id).await?;
                Ok::<_, store::Error>((r, t))
            })
        })
        .await?;
    if r.status == InvitationStatus::Answered {
        return AnswerOutcome::replay(&r, &t, &answers);
    }
    if !r.open_at(ctx.now()) {
        return Err(Error::Conflict(INVITATION_EXPIRED.into()));
    }
    let first = respond(app, ctx, r, t.clone(), &answers, SurveyChannel::Call).await;
    let scope = ctx.scope.clone();
    replay_if_answered(app, first, &t, &answers, move |c| {
        Box::pin(async move { surveys::get(c, &scope, id).await })
    })
    .await
}

/// `first`, unless it found the invitation answered by a request that won the race to it: then
/// that answer's outcome when the answers are the same (see [`AnswerOutcome::replay`]).
async fn replay_if_answered<F>(
    app: &App,
    first: Result<AnswerOutcome>,
    t: &Template,
    answers: &BTreeMap<String, serde_json::Value>,
    read: F,
) -> Result<AnswerOutcome>
where
    F: for<'c> FnOnce(&'c mut Conn) -> store::BoxFuture<'c, Result<InvitationRecord, store::Error>>
        + Send,
{
    match first {
        Err(Error::Conflict(m)) if m == ALREADY_ANSWERED => {
            let r = app.db.read(read).await?;
            AnswerOutcome::replay(&r, t, answers)
        }
        other => other,
    }
}

/// Validates the answers (before the transaction), then records them — and, when poor, opens the
/// follow-up — in one transaction.
async fn respond(
    app: &App,
    ctx: &Ctx,
    inv: InvitationRecord,
    template: Template,
    raw: &BTreeMap<String, serde_json::Value>,
    channel: SurveyChannel,
) -> Result<AnswerOutcome> {
    let answers = template.parse_answers(raw).map_err(|errs| {
        let mut f = Fields::new();
        for (k, v) in errs {
            f.add(&format!("answers.{k}"), v);
        }
        f.finish().err().unwrap_or(Error::NotFound)
    })?;
    let verdict = template.evaluate(&answers);
    let recorder = ctx.actor.user_id();
    let recorder_name = match &ctx.actor {
        crate::Actor::User { name, .. } => Some(name.clone()),
        crate::Actor::System(_) => None,
    };
    let audit = audit_entry(ctx, "answer", "survey_invitation");
    let ticket_audit = audit_entry(ctx, "create", "ticket");
    let tz = app.settings.tz;
    app.db
        .write(move |c| {
            Box::pin(async move {
                let now = audit.at;
                if let Err(e) = surveys::mark_answered(c, inv.id, now).await {
                    return Err(match e {
                        store::Error::VersionConflict => {
                            // Answered (or replaced) between our read and this write.
                            let again = surveys::get(c, &Scope::All, inv.id).await?;
                            if again.status == InvitationStatus::Answered {
                                Error::Conflict(ALREADY_ANSWERED.into())
                            } else {
                                Error::NotFound
                            }
                        }
                        other => other.into(),
                    });
                }
                let original = match inv.subject_kind {
                    SubjectKind::Ticket => {
                        Some(tickets::get(c, &Scope::All, TicketId(inv.subject_id)).await?)
                    }
                    SubjectKind::WorkOrder => None,
                };
                let follow_up = match verdict.follow_up {
                    Some(fu) => Some(
                        open_follow_up(
                            c,
                            fu,
                            &FollowUpFacts {
                                inv: &inv,
                                template: &template,
                                answers: &answers,
                                verdict: &verdict,
                                original: original.as_ref(),
                                channel,
                                recorder,
                                recorder_name: recorder_name.as_deref(),
                                tz,
                            },
                            &ticket_audit,
                        )
                        .await?,
                    ),
                    None => None,
                };
                surveys::insert_response(
                    c,
                    &NewResponse {
                        invitation_id: inv.id,
                        brand_id: inv.brand_id,
                        answers: &answers.to_json(),
                        recorded_by: recorder,
                        channel,
                        poor: verdict.poor(),
                        follow_up_ticket_id: follow_up.as_ref().map(|(id, _)| *id),
                        at: now,
                    },
                )
                .await
                .map_err(|e| match e {
                    store::Error::Duplicate(_) => Error::Conflict(ALREADY_ANSWERED.into()),
                    other => other.into(),
                })?;
                let number = follow_up.as_ref().map(|(_, n)| n.as_str());
                if let Some(t) = &original {
                    let (event, data) = match &follow_up {
                        Some((id, n)) => (
                            "survey_follow_up",
                            json!({ "invitation": inv.id.0, "channel": channel.as_str(), "poor": true, "follow_up_ticket": id.0, "follow_up_number": n }),
                        ),
                        None => (
                            "survey_answered",
                            json!({ "invitation": inv.id.0, "channel": channel.as_str(), "poor": verdict.poor() }),
                        ),
                    };
                    let label = recorder.is_none().then_some("customer");
                    ticket_event(c, t, now, recorder, label, event, data).await?;
                }
                if let Some(customer) = inv.customer_id {
                    let body = match number {
                        Some(n) => format!(
                            "{} {}：不满意，已开回访受理单 {n}",
                            template.name, inv.subject_label
                        ),
                        None if verdict.poor() => {
                            format!("{} {}：不满意", template.name, inv.subject_label)
                        }
                        None => format!("{} {}：满意", template.name, inv.subject_label),
                    };
                    let about = follow_up
                        .as_ref()
                        .map(|(id, _)| *id)
                        .or(original.as_ref().map(Ticket::id));
                    timeline::append_about(
                        c,
                        &NewEntry {
                            customer_id: customer,
                            device_id: original.as_ref().and_then(|t| t.device_id),
                            brand_id: inv.brand_id,
                            at: now,
                            kind: TimelineKind::Survey,
                            category_id: None,
                            author_id: recorder,
                            body: &body,
                        },
                        about,
                    )
                    .await?;
                }
                audit
                    .write(
                        c,
                        Some(inv.id.0),
                        inv.brand_id,
                        None,
                        Some(json!({
                            "channel": channel.as_str(),
                            "poor": verdict.poor(),
                            "follow_up": number,
                        })),
                    )
                    .await?;
                Ok::<_, Error>(AnswerOutcome {
                    invitation_id: inv.id.0,
                    poor: verdict.poor(),
                    follow_up_ticket_id: follow_up.as_ref().map(|(id, _)| id.0),
                    follow_up_number: follow_up.map(|(_, n)| n),
                    replayed: false,
                })
            })
        })
        .await
}

// ---------------------------------------------------------------- the follow-up ticket

struct FollowUpFacts<'a> {
    inv: &'a InvitationRecord,
    template: &'a Template,
    answers: &'a Answers,
    verdict: &'a Verdict,
    original: Option<&'a Ticket>,
    channel: SurveyChannel,
    recorder: Option<UserId>,
    recorder_name: Option<&'a str>,
    tz: chrono_tz::Tz,
}

/// The first active department whose function is `service`: where unattended tickets wait (the
/// same queue new tickets from the web form land in).
async fn intake_queue(c: &mut Conn) -> Result<OrgUnitId> {
    org::units(c)
        .await?
        .into_iter()
        .find(|u| {
            u.active
                && u.kind == domain::account::OrgUnitKind::Department
                && u.function == Some(domain::account::OrgFunction::Service)
        })
        .map(|u| u.id)
        .ok_or_else(|| {
            Error::Conflict(
                "no active service department (function 'service') to receive tickets; create one under Admin → Org units".into(),
            )
        })
}

/// The follow-up's description: why it was opened and every answer, in the desk's language.
fn describe(f: &FollowUpFacts<'_>) -> String {
    let t = f.template;
    let mut lines = vec![match f.original {
        Some(o) => format!("{}不满意：{} {}", t.name, f.inv.subject_label, o.subject),
        None => format!("{}不满意：{}", t.name, f.inv.subject_label),
    }];
    lines.push(match (f.channel, f.recorder_name) {
        (SurveyChannel::Call, Some(n)) => format!("回访方式：电话回访（记录人 {n}）"),
        (SurveyChannel::Call, None) => "回访方式：电话回访".to_string(),
        (SurveyChannel::Link, _) => "回访方式：客户通过回访链接填写".to_string(),
    });
    let reasons: Vec<String> = f
        .verdict
        .matched
        .iter()
        .map(|r| t.describe_rule(r, "zh-CN"))
        .collect();
    lines.push(format!("不满意项：{}", reasons.join("；")));
    lines.push(String::new());
    lines.push("回访答案：".to_string());
    let json = f.answers.to_json();
    for q in &t.questions {
        if let Some(v) = json.get(&q.key) {
            lines.push(format!("{}：{}", q.text_zh, t.show(&q.key, v, "zh-CN")));
        }
    }
    lines.join("\n")
}

/// Opens the follow-up ticket in the intake queue and returns its id and number. Writes its
/// history, its line on the customer's timeline and its audit row.
async fn open_follow_up(
    c: &mut Conn,
    fu: FollowUp,
    facts: &FollowUpFacts<'_>,
    ticket_audit: &AuditEntry,
) -> Result<(TicketId, String)> {
    let now = ticket_audit.at;
    let queue = intake_queue(c).await?;
    let kind = fu.kind.ticket_kind();
    let state = TicketState::new(TicketId(0), kind, Owner::Queue(queue), fu.priority);
    let headline = facts
        .original
        .map_or_else(|| facts.template.name.clone(), |o| o.subject.clone());
    let subject: String = format!("回访不满意：{} {headline}", facts.inv.subject_label)
        .chars()
        .take(SUBJECT_MAX)
        .collect();
    let orig = facts.original;
    let mut ticket = Ticket {
        state,
        number: String::new(),
        brand_id: facts.inv.brand_id,
        channel: match facts.channel {
            SurveyChannel::Link => Channel::WebForm,
            SurveyChannel::Call => Channel::Phone,
        },
        subject,
        description: describe(facts),
        customer_id: orig.and_then(|o| o.customer_id).or(facts.inv.customer_id),
        requester_id: orig.and_then(|o| o.requester_id),
        dealer_id: orig.and_then(|o| o.dealer_id),
        device_id: orig.and_then(|o| o.device_id),
        contact_name: orig.and_then(|o| o.contact_name.clone()),
        contact_phone: orig
            .and_then(|o| o.contact_phone.clone())
            .or_else(|| facts.inv.customer_phone.clone()),
        contact_email: orig.and_then(|o| o.contact_email.clone()),
        round: 0,
        last_urged_at: None,
        complaint_category: if fu.kind == FollowUpKind::Complaint {
            fu.category
        } else {
            None
        },
        liability: None,
        remedy: None,
        cost_shares: Vec::new(),
        plan_committed_at: None,
        remote_outcome: None,
        pre_diagnosis: None,
        parts_list: Vec::new(),
        first_reply_at: None,
        informed_at: None,
        confirmed_at: None,
        escalated_at: None,
        source_call_id: None,
        created_by: facts.recorder,
        version: 1,
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    let id = crate::tickets::insert_new(c, &mut ticket, None, facts.tz).await?;
    ticket_event(
        c,
        &ticket,
        now,
        facts.recorder,
        facts.recorder.is_none().then_some("system"),
        "create",
        json!({
            "channel": ticket.channel.as_str(),
            "kind": kind.as_str(),
            "survey_invitation": facts.inv.id.0,
            "survey_of": facts.inv.subject_label,
        }),
    )
    .await?;
    if let Some(customer) = ticket.customer_id.or(ticket.requester_id) {
        timeline::append_about(
            c,
            &NewEntry {
                customer_id: customer,
                device_id: ticket.device_id,
                brand_id: ticket.brand_id,
                at: now,
                kind: TimelineKind::Ticket,
                category_id: None,
                author_id: facts.recorder,
                body: &format!("{} {} · {}", ticket.number, kind.as_str(), ticket.subject),
            },
            Some(id),
        )
        .await?;
    }
    ticket_audit
        .write(
        c,
        Some(id.0),
        ticket.brand_id,
        None,
        Some(json!({ "number": ticket.number, "kind": kind.as_str(), "owner": ticket.state.owner, "survey_invitation": facts.inv.id.0 })),
    )
    .await?;
    Ok((id, ticket.number))
}

/// One row of a ticket's history; the status and owner stay as they are.
async fn ticket_event(
    c: &mut Conn,
    t: &Ticket,
    at: Timestamp,
    actor: Option<UserId>,
    label: Option<&str>,
    event: &str,
    data: serde_json::Value,
) -> Result<()> {
    let status: TicketStatus = t.state.status;
    tickets::insert_event(
        c,
        &NewEvent {
            ticket_id: t.id(),
            brand_id: t.brand_id,
            at,
            actor_id: actor,
            actor_label: label,
            event,
            from: status,
            to: status,
            owner: t.state.owner,
            data,
        },
    )
    .await?;
    Ok(())
}
