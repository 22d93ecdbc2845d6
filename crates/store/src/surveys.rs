//! Surveys (回访): questionnaire templates, invitations (one questionnaire sent about one subject,
//! reached through a signed link whose key is stored as its SHA-256) and the one response each
//! invitation may get. Templates are shared reference data; invitations and responses carry the
//! subject's brand and are filtered by scope.

use std::collections::BTreeMap;

use domain::survey::{InvitationStatus, Question, Rule, SubjectKind, SurveyChannel, Template};
use domain::{
    BrandId, CustomerId, Scope, SurveyInvitationId, SurveyTemplateId, TicketId, Timestamp, UserId,
};
use sqlx::FromRow;

use crate::error::corrupt;
use crate::sql::Filter;
use crate::{Conn, Error, Page};

// ---------------------------------------------------------------- templates

#[derive(FromRow)]
struct TemplateRow {
    id: i64,
    code: String,
    name: String,
    name_en: String,
    for_subject: String,
    questions: String,
    rules: String,
    active: i64,
    version: i64,
}

impl TryFrom<TemplateRow> for Template {
    type Error = Error;
    fn try_from(r: TemplateRow) -> Result<Self, Error> {
        let questions: Vec<Question> = serde_json::from_str(&r.questions)
            .map_err(|e| corrupt("survey questions", &format!("{}: {e}", r.code)))?;
        let rules: Vec<Rule> = serde_json::from_str(&r.rules)
            .map_err(|e| corrupt("survey rules", &format!("{}: {e}", r.code)))?;
        let t = Template {
            id: SurveyTemplateId(r.id),
            for_subject: SubjectKind::parse(&r.for_subject)
                .ok_or_else(|| corrupt("survey subject", &r.for_subject))?,
            code: r.code,
            name: r.name,
            name_en: r.name_en,
            questions,
            rules,
            active: r.active != 0,
            version: r.version,
        };
        t.check()
            .map_err(|e| corrupt("survey template", &format!("{}: {e}", t.code)))?;
        Ok(t)
    }
}

const SELECT_TEMPLATES: &str = "SELECT id, code, name, name_en, for_subject, questions, rules, active, version FROM survey_templates";

/// Every template, active ones first, by code.
pub async fn templates(c: &mut Conn) -> Result<Vec<Template>, Error> {
    let rows: Vec<TemplateRow> = Filter::new()
        .fetch_all(c, SELECT_TEMPLATES, " ORDER BY active DESC, code")
        .await?;
    rows.into_iter().map(Template::try_from).collect()
}

pub async fn template_by_code(c: &mut Conn, code: &str) -> Result<Template, Error> {
    let mut f = Filter::new();
    f.and("code = ?", vec![code.to_string()]);
    let rows: Vec<TemplateRow> = f.fetch_all(c, SELECT_TEMPLATES, "").await?;
    rows.into_iter()
        .next()
        .ok_or(Error::NotFound)
        .and_then(Template::try_from)
}

pub async fn template(c: &mut Conn, id: SurveyTemplateId) -> Result<Template, Error> {
    let mut f = Filter::new();
    f.and("id = ?", vec![id.0]);
    let rows: Vec<TemplateRow> = f.fetch_all(c, SELECT_TEMPLATES, "").await?;
    rows.into_iter()
        .next()
        .ok_or(Error::NotFound)
        .and_then(Template::try_from)
}

// ---------------------------------------------------------------- invitations

/// A questionnaire about to be sent.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    pub template: &'a Template,
    pub subject_kind: SubjectKind,
    pub subject_id: i64,
    pub subject_label: &'a str,
    pub brand_id: Option<BrandId>,
    pub customer_id: Option<CustomerId>,
    pub channel: SurveyChannel,
    pub token_hash: &'a str,
    pub expires_at: Timestamp,
    pub created_by: Option<UserId>,
    pub at: Timestamp,
}

pub async fn insert_invitation(
    c: &mut Conn,
    n: &NewInvitation<'_>,
) -> Result<SurveyInvitationId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO survey_invitations (template_id, template_version, subject_kind, subject_id, subject_label, brand_id, customer_id, channel, token_hash, status, expires_at, created_by, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'sent', $10, $11, 1, $12, $12) RETURNING id",
    )
    .bind(n.template.id.0)
    .bind(n.template.version)
    .bind(n.subject_kind.as_str())
    .bind(n.subject_id)
    .bind(n.subject_label)
    .bind(n.brand_id.map(|b| b.0))
    .bind(n.customer_id.map(|c| c.0))
    .bind(n.channel.as_str())
    .bind(n.token_hash)
    .bind(n.expires_at.0)
    .bind(n.created_by.map(|u| u.0))
    .bind(n.at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(SurveyInvitationId(id))
}

/// Expires the unanswered invitations about a subject with a template (a newer one replaces
/// them); returns how many.
pub async fn expire_open(
    c: &mut Conn,
    template: SurveyTemplateId,
    subject_kind: SubjectKind,
    subject_id: i64,
    at: Timestamp,
) -> Result<u64, Error> {
    let res = sqlx::query(
        "UPDATE survey_invitations SET status = 'expired', version = version + 1, updated_at = $1
         WHERE template_id = $2 AND subject_kind = $3 AND subject_id = $4 AND status = 'sent'",
    )
    .bind(at.0)
    .bind(template.0)
    .bind(subject_kind.as_str())
    .bind(subject_id)
    .execute(&mut *c)
    .await?;
    Ok(res.rows_affected())
}

/// Marks an invitation answered if it is still waiting for its answer. Another state (answered
/// meanwhile, expired) → `VersionConflict`.
pub async fn mark_answered(
    c: &mut Conn,
    id: SurveyInvitationId,
    at: Timestamp,
) -> Result<(), Error> {
    let res = sqlx::query(
        "UPDATE survey_invitations SET status = 'answered', version = version + 1, updated_at = $1 WHERE id = $2 AND status = 'sent' AND expires_at > $3",
    )
    .bind(at.0)
    .bind(id.0)
    .bind(at.0)
    .execute(&mut *c)
    .await?;
    if res.rows_affected() == 0 {
        return Err(Error::VersionConflict);
    }
    Ok(())
}

/// The response an invitation got.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResponseRecord {
    pub id: i64,
    /// As stored: question key → the answer's JSON value.
    pub answers: BTreeMap<String, serde_json::Value>,
    pub recorded_by: Option<UserId>,
    pub recorded_by_name: Option<String>,
    pub channel: SurveyChannel,
    pub poor: bool,
    pub follow_up_ticket_id: Option<TicketId>,
    pub follow_up_number: Option<String>,
    pub answered_at: Timestamp,
}

/// An invitation with its template's code and names, the customer's name and phone, and the
/// response once there is one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InvitationRecord {
    pub id: SurveyInvitationId,
    pub template_id: SurveyTemplateId,
    pub template_code: String,
    pub template_version: i64,
    pub subject_kind: SubjectKind,
    pub subject_id: i64,
    pub subject_label: String,
    pub brand_id: Option<BrandId>,
    pub customer_id: Option<CustomerId>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub channel: SurveyChannel,
    pub status: InvitationStatus,
    pub expires_at: Timestamp,
    pub created_by: Option<UserId>,
    pub version: i64,
    pub created_at: Timestamp,
    pub response: Option<ResponseRecord>,
}

impl InvitationRecord {
    /// Still waiting for an answer at `now`.
    pub fn open_at(&self, now: Timestamp) -> bool {
        self.status == InvitationStatus::Sent && self.expires_at > now
    }
}

#[derive(FromRow)]
struct InvitationRow {
    id: i64,
    template_id: i64,
    template_code: String,
    template_version: i64,
    subject_kind: String,
    subject_id: i64,
    subject_label: String,
    brand_id: Option<i64>,
    customer_id: Option<i64>,
    customer_name: Option<String>,
    customer_phone: Option<String>,
    channel: String,
    status: String,
    expires_at: i64,
    created_by: Option<i64>,
    version: i64,
    created_at: i64,
    response_id: Option<i64>,
    answers: Option<String>,
    recorded_by: Option<i64>,
    recorded_by_name: Option<String>,
    response_channel: Option<String>,
    poor: Option<i64>,
    follow_up_ticket_id: Option<i64>,
    follow_up_number: Option<String>,
    answered_at: Option<i64>,
}

impl TryFrom<InvitationRow> for InvitationRecord {
    type Error = Error;
    fn try_from(r: InvitationRow) -> Result<Self, Error> {
        let response = match r.response_id {
            None => None,
            Some(id) => {
                let answers = r.answers.unwrap_or_default();
                let ch = r.response_channel.unwrap_or_default();
                Some(ResponseRecord {
                    id,
                    answers: serde_json::from_str(&answers)
                        .map_err(|_| corrupt("survey answers", &answers))?,
                    recorded_by: r.recorded_by.map(UserId),
                    recorded_by_name: r.recorded_by_name,
                    channel: SurveyChannel::parse(&ch)
                        .ok_or_else(|| corrupt("survey channel", &ch))?,
                    poor: r.poor.unwrap_or(0) != 0,
                    follow_up_ticket_id: r.follow_up_ticket_id.map(TicketId),
                    follow_up_number: r.follow_up_number,
                    answered_at: Timestamp(r.answered_at.unwrap_or(0)),
                })
            }
        };
        Ok(InvitationRecord {
            id: SurveyInvitationId(r.id),
            template_id: SurveyTemplateId(r.template_id),
            template_code: r.template_code,
            template_version: r.template_version,
            subject_kind: SubjectKind::parse(&r.subject_kind)
                .ok_or_else(|| corrupt("survey subject", &r.subject_kind))?,
            subject_id: r.subject_id,
            subject_label: r.subject_label,
            brand_id: r.brand_id.map(BrandId),
            customer_id: r.customer_id.map(CustomerId),
            customer_name: r.customer_name,
            customer_phone: r.customer_phone,
            channel: SurveyChannel::parse(&r.channel)
                .ok_or_else(|| corrupt("survey channel", &r.channel))?,
            status: InvitationStatus::parse(&r.status)
                .ok_or_else(|| corrupt("invitation status", &r.status))?,
            expires_at: Timestamp(r.expires_at),
            created_by: r.created_by.map(UserId),
            version: r.version,
            created_at: Timestamp(r.created_at),
            response,
        })
    }
}

const SELECT_INVITATIONS: &str = "SELECT i.id, i.template_id, st.code AS template_code, i.template_version, i.subject_kind, i.subject_id, i.subject_label, i.brand_id, i.customer_id, cu.name AS customer_name, cu.phone AS customer_phone, i.channel, i.status, i.expires_at, i.created_by, i.version, i.created_at, r.id AS response_id, r.answers, r.recorded_by, u.display_name AS recorded_by_name, r.channel AS response_channel, r.poor, r.follow_up_ticket_id, ft.number AS follow_up_number, r.answered_at
 FROM survey_invitations i JOIN survey_templates st ON st.id = i.template_id LEFT JOIN customers cu ON cu.id = i.customer_id LEFT JOIN survey_responses r ON r.invitation_id = i.id LEFT JOIN users u ON u.id = r.recorded_by LEFT JOIN tickets ft ON ft.id = r.follow_up_ticket_id";

/// Which invitations a scope sees: a brand its brand's, a customer its own; outlets, engineers
/// and dealers none (they do not run follow-ups).
fn scope_filter(f: &mut Filter, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Brands(brands) => {
            let list = f.bind_list(brands.iter().map(|b| b.0));
            f.and_raw(format!("i.brand_id IN ({list})"));
        }
        Scope::Customer(id) => {
            f.and("i.customer_id = ?", vec![id.0]);
        }
        Scope::Dealer(_) | Scope::Outlet(_) | Scope::Engineer(_) => {
            f.and_raw("1 = 0".to_string());
        }
    }
}

pub async fn get(
    c: &mut Conn,
    scope: &Scope,
    id: SurveyInvitationId,
) -> Result<InvitationRecord, Error> {
    let mut f = Filter::new();
    f.and("i.id = ?", vec![id.0]);
    scope_filter(&mut f, scope);
    let rows: Vec<InvitationRow> = f.fetch_all(c, SELECT_INVITATIONS, "").await?;
    rows.into_iter()
        .next()
        .ok_or(Error::NotFound)
        .and_then(InvitationRecord::try_from)
}

/// The invitation a link's key opens (the caller hashed the key). The key is the authority:
/// no scope applies.
pub async fn by_token_hash(c: &mut Conn, hash: &str) -> Result<InvitationRecord, Error> {
    let mut f = Filter::new();
    f.and("i.token_hash = ?", vec![hash.to_string()]);
    let rows: Vec<InvitationRow> = f.fetch_all(c, SELECT_INVITATIONS, "").await?;
    rows.into_iter()
        .next()
        .ok_or(Error::NotFound)
        .and_then(InvitationRecord::try_from)
}

/// Which invitations a list shows; newest first, keyset by id.
#[derive(Debug, Clone, Default)]
pub struct InvitationQuery {
    pub subject: Option<(SubjectKind, i64)>,
    pub customer: Option<CustomerId>,
    /// Only those still waiting for an answer at this instant.
    pub pending_at: Option<Timestamp>,
    pub before: Option<SurveyInvitationId>,
    pub limit: u32,
}

pub async fn list(
    c: &mut Conn,
    scope: &Scope,
    q: &InvitationQuery,
) -> Result<Page<InvitationRecord>, Error> {
    let mut f = Filter::new();
    scope_filter(&mut f, scope);
    if let Some((kind, id)) = q.subject {
        f.and("i.subject_kind = ?", vec![kind.as_str().to_string()]);
        f.and("i.subject_id = ?", vec![id]);
    }
    if let Some(cu) = q.customer {
        f.and("i.customer_id = ?", vec![cu.0]);
    }
    if let Some(now) = q.pending_at {
        f.and_raw("i.status = 'sent'".to_string());
        f.and("i.expires_at > ?", vec![now.0]);
    }
    if let Some(b) = q.before {
        f.and("i.id < ?", vec![b.0]);
    }
    let limit = q.limit.clamp(1, 200);
    let lim = f.bind(i64::from(limit) + 1);
    let rows: Vec<InvitationRow> = f
        .fetch_all(
            c,
            SELECT_INVITATIONS,
            &format!(" ORDER BY i.id DESC LIMIT {lim}"),
        )
        .await?;
    let items = rows
        .into_iter()
        .map(InvitationRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::customers::page(items, i64::from(limit), |i| {
        domain::Cursor {
            key: String::new(),
            id: i.id.0,
        }
    }))
}

// ---------------------------------------------------------------- responses

#[derive(Debug, Clone)]
pub struct NewResponse<'a> {
    pub invitation_id: SurveyInvitationId,
    pub brand_id: Option<BrandId>,
    pub answers: &'a serde_json::Value,
    pub recorded_by: Option<UserId>,
    pub channel: SurveyChannel,
    pub poor: bool,
    pub follow_up_ticket_id: Option<TicketId>,
    pub at: Timestamp,
}

/// Records the answer. A second response to the same invitation → `Duplicate`.
pub async fn insert_response(c: &mut Conn, r: &NewResponse<'_>) -> Result<i64, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO survey_responses (invitation_id, brand_id, answers, recorded_by, channel, poor, follow_up_ticket_id, answered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(r.invitation_id.0)
    .bind(r.brand_id.map(|b| b.0))
    .bind(r.answers.to_string())
    .bind(r.recorded_by.map(|u| u.0))
    .bind(r.channel.as_str())
    .bind(i64::from(r.poor))
    .bind(r.follow_up_ticket_id.map(|t| t.0))
    .bind(r.at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(id)
}
