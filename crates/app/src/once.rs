//! Creates that happen once per Idempotency-Key.

use store::{BoxFuture, Conn, idempotency};

use crate::{App, Ctx, Error, Result};

/// The id a create made, and whether this answer replays an earlier request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created<T> {
    pub id: T,
    pub replayed: bool,
}

/// Runs `create` in a write transaction unless the request's Idempotency-Key already made the
/// resource; records the key with the new id in the same transaction. A key reused with another
/// body is refused.
pub(crate) async fn create_once<T, F>(
    app: &App,
    ctx: &Ctx,
    wrap: fn(i64) -> T,
    create: F,
) -> Result<Created<T>>
where
    F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<i64>> + Send + 'static,
{
    let Some(key) = ctx.idem.clone() else {
        let id = app.db.write(create).await?;
        return Ok(Created {
            id: wrap(id),
            replayed: false,
        });
    };
    // No read before the write: retries are rare, and the key is recorded in the same
    // transaction as the resource. A key that is stored already makes the write fail and roll
    // back; the earlier request is read then.
    let at = ctx.now();
    let k = key.clone();
    let out = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let id = create(c).await?;
                idempotency::record(c, &k, id, at).await?;
                Ok(id)
            })
        })
        .await;
    match out {
        Ok(id) => Ok(Created {
            id: wrap(id),
            replayed: false,
        }),
        // A retry (its key is stored), or a concurrent request with the same key that
        // committed while ours ran and made ours fail (on the key, or on the phone it just
        // saved): answer as its replay.
        Err(e) => {
            let k = key.clone();
            match app
                .db
                .read(move |c| Box::pin(async move { idempotency::find(c, &k).await }))
                .await
            {
                Ok(Some(earlier)) => replay(&key, &earlier).map(|id| Created {
                    id: wrap(id),
                    replayed: true,
                }),
                _ => Err(e),
            }
        }
    }
}

fn replay(key: &store::idempotency::IdemKey, earlier: &idempotency::Earlier) -> Result<i64> {
    if earlier.body_hash == key.body_hash {
        Ok(earlier.resource_id)
    } else {
        Err(Error::IdempotencyKeyReused)
    }
}
