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

/// Records the key in the surrounding write. A key already stored (a retry, or a concurrent
/// twin) makes the write fail with [`Error::Duplicate`]; the caller then reads the earlier
/// request with [`find`].
pub async fn record(
    c: &mut Conn,
    k: &IdemKey,
    resource_id: i64,
    at: Timestamp,
) -> Result<(), Error> {
    let mut batch = crate::sql::Batch::new();
    batch.push(
        "INSERT INTO idempotency_keys (principal, route, key, body_hash, resource_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        vec![
            k.principal.clone().into(),
            k.route.clone().into(),
            k.key.clone().into(),
            k.body_hash.clone().into(),
            resource_id.into(),
            at.0.into(),
        ],
    );
    batch.run(c).await
}
