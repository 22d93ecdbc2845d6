//! Signing in: sessions for browsers, bearer tokens for integrations, and throttling of failed
//! attempts per account and per address, counted in the database so every node agrees.

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::access::{Permissions, scope_for};
use domain::account::User;
use domain::{ApiTokenId, BrandId, Permission, Scope, Timestamp};
use store::sessions::{self, TokenRow};
use store::users;

use crate::secret::{digest, dummy_hash, random_token, verify_password};
use crate::{Actor, App, Clock, Ctx, Error, Result, admin};

/// Failed attempts allowed in the window before further attempts are refused.
pub const MAX_FAILURES_PER_LOGIN: i64 = 5;
pub const MAX_FAILURES_PER_IP: i64 = 30;
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How stale `last_seen_at` may get before a request writes it again.
const TOUCH_EVERY_MS: i64 = 5 * 60 * 1000;

/// A new browser session: the raw cookie value (shown once, never stored) and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub user: User,
}

pub async fn login(
    app: &App,
    clock: &Arc<dyn Clock>,
    login: &str,
    password: &str,
    ip: &str,
) -> Result<NewSession> {
    let now = clock.now();
    let (l, i) = (login.to_string(), ip.to_string());
    let since = Timestamp(now.0 - FAILURE_WINDOW_MS);
    let (by_login, by_ip) = app
        .db
        .read(move |c| Box::pin(async move { sessions::failures_since(c, &l, &i, since).await }))
        .await?;
    if by_login >= MAX_FAILURES_PER_LOGIN || by_ip >= MAX_FAILURES_PER_IP {
        return Err(Error::TooManyAttempts);
    }
    let l = login.to_string();
    let found = app
        .db
        .read(move |c| Box::pin(async move { users::by_login(c, &l).await }))
        .await?;
    let ok = if let Some((user, hash)) = &found {
        verify_password(password.to_string(), hash.clone()).await && user.active
    } else {
        verify_password(password.to_string(), dummy_hash().await.to_string()).await;
        false
    };

    let (l, i) = (login.chars().take(64).collect::<String>(), ip.to_string());
    let Some((user, _)) = found.filter(|_| ok) else {
        app.db
            .write(move |c| Box::pin(async move { sessions::record_failure(c, &l, &i, now).await }))
            .await?;
        return Err(Error::BadCredentials);
    };
    let token = random_token();
    let csrf = random_token();
    let (hash, csrf2, uid, uname) = (digest(&token), csrf.clone(), user.id, user.login.clone());
    let expires = Timestamp(now.0 + app.settings.session_idle_ms);
    app.db
        .write(move |c| {
            Box::pin(async move {
                sessions::clear_failures(c, &l).await?;
                sessions::create(c, &hash, uid, &csrf2, now, expires).await?;
                store::audit::record(
                    c,
                    &store::audit::NewAudit {
                        at: now,
                        actor_id: Some(uid),
                        actor: &uname,
                        action: "login",
                        entity: "user",
                        entity_id: Some(uid.0),
                        brand_id: None,
                        before: None,
                        after: Some(serde_json::json!({ "ip": i })),
                        request_id: None,
                    },
                )
                .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    Ok(NewSession { token, csrf, user })
}

pub async fn logout(app: &App, token: &str) -> Result<()> {
    let hash = digest(token);
    app.db
        .write(move |c| Box::pin(async move { sessions::delete(c, &hash).await }))
        .await?;
    Ok(())
}

/// The principal a session cookie stands for, with its CSRF token; None when unknown or expired.
pub async fn session(
    app: &App,
    clock: &Arc<dyn Clock>,
    token: &str,
) -> Result<Option<(Principal, String)>> {
    let now = clock.now();
    let hash = digest(token);
    let found = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let Some(s) = sessions::find(c, &hash, now).await? else {
                    return Ok::<_, Error>(None);
                };
                let user = users::get(c, s.user_id).await?;
                Ok(Some((s, user)))
            })
        })
        .await?;
    let Some((s, user)) = found else {
        return Ok(None);
    };
    if now.0 - s.last_seen_at.0 > TOUCH_EVERY_MS {
        let expires = Timestamp(now.0 + app.settings.session_idle_ms);
        app.db
            .write(move |c| Box::pin(async move { sessions::touch(c, s.id, now, expires).await }))
            .await?;
    }
    Ok(Some((Principal::of_user(user, None)?, s.csrf_token)))
}

/// How long a resolved bearer token is trusted without asking the database again. Revoking a
/// token or changing an account clears this process's cache at once; other nodes of a
/// PostgreSQL deployment notice within this time.
const TOKEN_CACHE_MS: i64 = 30_000;

/// Bearer tokens recently resolved by this process: an integration sends the same token
/// thousands of times a minute, and each lookup is three queries.
#[derive(Default)]
pub struct TokenCache(std::sync::Mutex<std::collections::HashMap<String, (Principal, Timestamp)>>);

impl TokenCache {
    fn get(&self, hash: &str, now: Timestamp) -> Option<Principal> {
        let map = self.0.lock().ok()?;
        map.get(hash)
            .filter(|(_, at)| now.0 - at.0 < TOKEN_CACHE_MS)
            .map(|(p, _)| p.clone())
    }

    fn put(&self, hash: String, p: Principal, now: Timestamp) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= 10_000 {
                map.clear();
            }
            map.insert(hash, (p, now));
        }
    }

    /// Forgets every cached token (after a revocation or an account change).
    pub fn clear(&self) {
        if let Ok(mut map) = self.0.lock() {
            map.clear();
        }
    }
}

/// The principal a bearer token stands for; None when unknown or revoked.
pub async fn bearer(app: &App, clock: &Arc<dyn Clock>, token: &str) -> Result<Option<Principal>> {
    let now = clock.now();
    let hash = digest(token);
    if let Some(p) = app.tokens.get(&hash, now) {
        return Ok(Some(p));
    }
    let key = hash.clone();
    let found = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let Some(t) = sessions::find_token(c, &hash).await? else {
                    return Ok::<_, Error>(None);
                };
                let user = users::get(c, t.user_id).await?;
                Ok(Some((t, user)))
            })
        })
        .await?;
    let Some((t, user)) = found else {
        return Ok(None);
    };
    if t.last_used_at
        .is_none_or(|at| now.0 - at.0 > TOUCH_EVERY_MS)
    {
        let id = t.id;
        app.db
            .write(move |c| Box::pin(async move { sessions::touch_token(c, id, now).await }))
            .await?;
    }
    let principal = Principal::of_user(user, Some(&t))?;
    app.tokens.put(key, principal.clone(), now);
    Ok(Some(principal))
}

/// An authenticated user with what they may do and see.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub perms: Permissions,
    pub scope: Scope,
    pub token: Option<ApiTokenId>,
}

impl Principal {
    pub fn of_user(user: User, token: Option<&TokenRow>) -> Result<Self> {
        let mut scope = scope_for(&user.roles, user.links)
            .map_err(|e| Error::Conflict(format!("account {}: {e}", user.login)))?;
        // A token scoped to a brand narrows whatever its owner could see to that brand.
        if let Some(brand) = token.and_then(|t| t.brand_id) {
            scope = narrow_to_brand(&scope, brand);
        }
        Ok(Self {
            perms: Permissions::of_roles(&user.roles),
            scope,
            token: token.map(|t| t.id),
            user,
        })
    }

    /// The context a request of this principal runs in.
    pub fn ctx(&self, clock: Arc<dyn Clock>, request_id: String, locale: String) -> Ctx {
        Ctx {
            actor: Actor::User {
                id: self.user.id,
                login: self.user.login.clone(),
                name: self.user.display_name.clone(),
            },
            perms: self.perms.clone(),
            scope: self.scope.clone(),
            clock,
            request_id,
            locale,
            idem: None,
        }
    }

    /// The key idempotency records are filed under.
    pub fn key(&self) -> String {
        match self.token {
            Some(t) => format!("token:{t}"),
            None => format!("user:{}", self.user.id),
        }
    }
}

fn narrow_to_brand(scope: &Scope, brand: BrandId) -> Scope {
    match scope {
        Scope::All => Scope::Brands(BTreeSet::from([brand])),
        Scope::Brands(set) if set.contains(&brand) => Scope::Brands(BTreeSet::from([brand])),
        Scope::Brands(_) => Scope::Brands(BTreeSet::new()),
        other => other.clone(),
    }
}

/// A new API token: the raw value is returned once and only its digest is kept.
pub async fn create_token(
    app: &App,
    ctx: &Ctx,
    name: &str,
    brand: Option<BrandId>,
) -> Result<(ApiTokenId, String)> {
    let owner = ctx.actor.user_id().ok_or(Error::Forbidden)?;
    if brand.is_some() {
        ctx.require(Permission::TokenAdmin)?;
    }
    let name = domain::text::required(name, 80).map_err(|e| Error::field("name", e.to_string()))?;
    let token = random_token();
    let hash = digest(&token);
    let at = ctx.now();
    let audit = admin::audit_entry(ctx, "create", "api_token");
    let id = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let id = sessions::create_token(c, &hash, &name, owner, brand, at).await?;
                audit
                    .write(
                        c,
                        Some(id.0),
                        brand,
                        None,
                        Some(serde_json::json!({ "name": name, "brand_id": brand })),
                    )
                    .await?;
                Ok::<_, Error>(id)
            })
        })
        .await?;
    Ok((id, token))
}

pub async fn tokens(app: &App, ctx: &Ctx) -> Result<Vec<TokenRow>> {
    let owner = ctx.actor.user_id().ok_or(Error::Forbidden)?;
    let all = ctx.can(Permission::TokenAdmin);
    Ok(app
        .db
        .read(move |c| {
            Box::pin(async move { sessions::tokens(c, if all { None } else { Some(owner) }).await })
        })
        .await?)
}

pub async fn revoke_token(app: &App, ctx: &Ctx, id: ApiTokenId) -> Result<()> {
    let owner = ctx.actor.user_id().ok_or(Error::Forbidden)?;
    let all = ctx.can(Permission::TokenAdmin);
    let at = ctx.now();
    let audit = admin::audit_entry(ctx, "revoke", "api_token");
    app.db
        .write(move |c| {
            Box::pin(async move {
                let mine = sessions::tokens(c, if all { None } else { Some(owner) }).await?;
                if !mine.iter().any(|t| t.id == id) {
                    return Err(Error::NotFound);
                }
                let t = sessions::revoke_token(c, id, at).await?;
                audit
                    .write(
                        c,
                        Some(id.0),
                        t.brand_id,
                        Some(serde_json::json!({ "name": t.name })),
                        None,
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    app.tokens.clear();
    Ok(())
}
