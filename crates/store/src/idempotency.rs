//! Idempotency keys: a create retried with the same key answers with the resource the first
//! attempt made instead of making another. The key is recorded in the same transaction as the
//! resource, so either both exist or neither does.

use domain::Timestamp;

use crate::{Conn, Error};

/// What a client's key identifies: (principal, route, key) and the digest of the body it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemKey {
    pub principal: String,
    pub route: String,
    pub key: String,
    pub body_hash: String,
}

/// An earlier request with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earlier {
    pub body_hash: String,
    pub resource_id: i64,
}

pub async fn find(c: &mut Conn, k: &IdemKey) -> Result<Option<Earlier>, Error> {
    let row: Option<(String, i64)> = sqlx::query_as("SELECT body_hash, resource_id FROM idempotency_keys WHERE principal = $1 AND route = $2 AND key = $3")
        .bind(&k.principal)
        .bind(&k.route)
        .bind(&k.key)
        .fetch_optional(&mut *c)
        .await?;
    Ok(row.map(|(body_hash, resource_id)| Earlier {
        body_hash,
        resource_id,
    }))
}

/// Records the key for `resource_id`. Returns the earlier request instead when the key was
/// already used (a concurrent retry won the race); the caller then rolls back its own work.
pub async fn record(
    c: &mut Conn,
    k: &IdemKey,
    resource_id: i64,
    at: Timestamp,
) -> Result<Option<Earlier>, Error> {
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO idempotency_keys (principal, route, key, body_hash, resource_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (principal, route, key) DO NOTHING RETURNING id",
    )
    .bind(&k.principal)
    .bind(&k.route)
    .bind(&k.key)
    .bind(&k.body_hash)
    .bind(resource_id)
    .bind(at.0)
    .fetch_optional(&mut *c)
    .await?;
    if inserted.is_some() {
        Ok(None)
    } else {
        find(c, k).await
    }
}
