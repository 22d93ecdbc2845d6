//! The audit log: who changed what, when, with the state before and after. Rows are written in
//! the same transaction as the change they describe.

use domain::{AuditId, BrandId, Cursor, Timestamp, UserId};
use serde::Serialize;
use sqlx::FromRow;

use crate::sql::Filter;
use crate::{Conn, Error, Page};

#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub at: Timestamp,
    pub actor_id: Option<UserId>,
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<i64>,
    pub brand_id: Option<BrandId>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<&'a str>,
}

pub async fn record(c: &mut Conn, a: &NewAudit<'_>) -> Result<AuditId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, brand_id, before_json, after_json, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(a.at.0)
    .bind(a.actor_id.map(|x| x.0))
    .bind(a.actor)
    .bind(a.action)
    .bind(a.entity)
    .bind(a.entity_id)
    .bind(a.brand_id.map(|x| x.0))
    .bind(a.before.as_ref().map(serde_json::Value::to_string))
    .bind(a.after.as_ref().map(serde_json::Value::to_string))
    .bind(a.request_id)
    .fetch_one(&mut *c)
    .await?;
    Ok(AuditId(id))
}

/// `record`, sent with the other statements of `b` (the new row's id is not needed).
pub fn record_into(b: &mut crate::sql::Batch, a: &NewAudit<'_>) {
    b.push(
        "INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, brand_id, before_json, after_json, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        vec![
            a.at.0.into(),
            a.actor_id.map(|x| x.0).into(),
            a.actor.into(),
            a.action.into(),
            a.entity.into(),
            a.entity_id.into(),
            a.brand_id.map(|x| x.0).into(),
            a.before.as_ref().map(serde_json::Value::to_string).into(),
            a.after.as_ref().map(serde_json::Value::to_string).into(),
            a.request_id.into(),
        ],
    );
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<i64>,
    pub brand_id: Option<i64>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub entity: Option<String>,
    pub entity_id: Option<i64>,
    pub actor_id: Option<UserId>,
    pub action: Option<String>,
    pub after: Option<Cursor>,
    pub limit: u32,
}

pub async fn list(c: &mut Conn, q: &AuditQuery) -> Result<Page<AuditRow>, Error> {
    let mut f = Filter::new();
    if let Some(e) = &q.entity {
        f.and("a.entity = ?", vec![e.clone()]);
    }
    if let Some(id) = q.entity_id {
        f.and("a.entity_id = ?", vec![id]);
    }
    if let Some(u) = q.actor_id {
        f.and("a.actor_id = ?", vec![u.0]);
    }
    if let Some(action) = &q.action {
        f.and("a.action = ?", vec![action.clone()]);
    }
    if let Some(cur) = &q.after {
        f.and("a.id < ?", vec![cur.id]);
    }
    let limit = i64::from(q.limit.clamp(1, 200));
    let lim = f.bind(limit + 1);
    let rows: Vec<AuditRow> = f
        .fetch_all(
            c,
            "SELECT a.id, a.at, a.actor_id, a.actor, a.action, a.entity, a.entity_id, a.brand_id, a.before_json, a.after_json, a.request_id FROM audit_log a",
            &format!(" ORDER BY a.id DESC LIMIT {lim}"),
        )
        .await?;
    Ok(crate::customers::page(rows, limit, |r: &AuditRow| Cursor {
        key: String::new(),
        id: r.id,
    }))
}
