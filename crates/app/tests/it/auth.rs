//! Signing in (I4): passwords, throttling, sessions with sliding expiry, disabled accounts and
//! API tokens.

use app::admin::{self, UserInput};
use app::auth::{self, FAILURE_WINDOW_MS, MAX_FAILURES_PER_LOGIN};
use app::ledger;
use domain::Scope;
use testkit::each_backend;

use crate::{PASSWORD, World, code, fields, individual};

#[tokio::test]
async fn wrong_passwords_are_refused_and_then_throttled() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        w.create_user("agent.a", &["agent"], None, None).await;
        let clock = w.clock();

        let r = auth::login(&w.app, &clock, "agent.a", "wrong password", "10.0.0.2").await;
        assert_eq!(code(&r), "bad_credentials", "{which:?}");
        let r = auth::login(&w.app, &clock, "nobody", PASSWORD, "10.0.0.2").await;
        assert_eq!(
            code(&r),
            "bad_credentials",
            "an unknown login looks the same"
        );

        // A success clears the count.
        let ok = auth::login(&w.app, &clock, "agent.a", PASSWORD, "10.0.0.2").await;
        assert_eq!(code(&ok), "ok");
        for _ in 0..MAX_FAILURES_PER_LOGIN {
            let r = auth::login(&w.app, &clock, "agent.a", "guess", "10.0.0.3").await;
            assert_eq!(code(&r), "bad_credentials");
        }
        // Now even the right password is refused, from any address.
        for ip in ["10.0.0.3", "192.168.1.9"] {
            let r = auth::login(&w.app, &clock, "agent.a", PASSWORD, ip).await;
            assert_eq!(code(&r), "too_many_attempts", "{which:?} {ip}");
        }
        // Another account is not affected.
        w.create_user("agent.b", &["agent"], None, None).await;
        let r = auth::login(&w.app, &clock, "agent.b", PASSWORD, "10.0.0.4").await;
        assert_eq!(code(&r), "ok");

        // When the window has passed, the right password works again.
        w.clock.advance_ms(FAILURE_WINDOW_MS + 1);
        let s = auth::login(&w.app, &clock, "agent.a", PASSWORD, "10.0.0.3")
            .await
            .unwrap();
        assert_eq!(s.user.login, "agent.a");
        let logins: Vec<_> = w
            .audit("user", Some(s.user.id.0))
            .await
            .into_iter()
            .filter(|r| r.action == "login")
            .collect();
        assert_eq!(logins.len(), 2, "{which:?}: each sign-in is on record");
        assert!(
            logins[0]
                .after_json
                .as_deref()
                .unwrap()
                .contains("10.0.0.3")
        );
    })
    .await;
}

#[tokio::test]
async fn a_session_is_found_slides_expires_and_ends_at_logout() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let id = w.create_user("agent.s", &["agent"], None, None).await;
        let clock = w.clock();
        let session = auth::login(&w.app, &clock, "agent.s", PASSWORD, "10.0.0.5")
            .await
            .unwrap();
        assert_ne!(session.token, session.csrf);
        assert_eq!(session.token.len(), 43);

        let (principal, csrf) = auth::session(&w.app, &clock, &session.token)
            .await
            .unwrap()
            .expect("a live session");
        assert_eq!(principal.user.id, id, "{which:?}");
        assert_eq!(csrf, session.csrf);
        assert_eq!(principal.scope, Scope::All);
        assert!(principal.token.is_none());
        assert!(
            auth::session(&w.app, &clock, "not-a-token")
                .await
                .unwrap()
                .is_none()
        );

        // Use keeps it alive past the idle limit; idleness ends it.
        let idle = w.app.settings.session_idle_ms;
        w.clock.advance_ms(idle - 60_000);
        assert!(
            auth::session(&w.app, &clock, &session.token)
                .await
                .unwrap()
                .is_some()
        );
        w.clock.advance_ms(idle - 60_000);
        assert!(
            auth::session(&w.app, &clock, &session.token)
                .await
                .unwrap()
                .is_some(),
            "{which:?}: the last request moved the expiry"
        );
        w.clock.advance_ms(idle + 1);
        assert!(
            auth::session(&w.app, &clock, &session.token)
                .await
                .unwrap()
                .is_none()
        );

        // Logging out ends a session at once, and only that one.
        let first = auth::login(&w.app, &clock, "agent.s", PASSWORD, "10.0.0.5")
            .await
            .unwrap();
        let second = auth::login(&w.app, &clock, "agent.s", PASSWORD, "10.0.0.6")
            .await
            .unwrap();
        auth::logout(&w.app, &first.token).await.unwrap();
        assert!(
            auth::session(&w.app, &clock, &first.token)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            auth::session(&w.app, &clock, &second.token)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_and_loses_sessions_and_tokens() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let id = w.create_user("agent.d", &["agent"], None, None).await;
        let clock = w.clock();
        let s = auth::login(&w.app, &clock, "agent.d", PASSWORD, "10.0.0.7")
            .await
            .unwrap();
        let ctx = auth::Principal::of_user(s.user.clone(), None).unwrap().ctx(
            clock.clone(),
            "req-t".into(),
            "zh-CN".into(),
        );
        let (_, bearer) = auth::create_token(&w.app, &ctx, "CRM sync", None)
            .await
            .unwrap();
        assert!(
            auth::bearer(&w.app, &clock, &bearer)
                .await
                .unwrap()
                .is_some()
        );

        let user = admin::user(&w.app, &w.sys, id).await.unwrap();
        admin::update_user(
            &w.app,
            &w.sys,
            id,
            user.version,
            UserInput {
                login: "agent.d".into(),
                display_name: user.display_name.clone(),
                roles: vec!["agent".into()],
                active: false,
                ..UserInput::default()
            },
        )
        .await
        .unwrap();

        let r = auth::login(&w.app, &clock, "agent.d", PASSWORD, "10.0.0.7").await;
        assert_eq!(code(&r), "bad_credentials", "{which:?}");
        assert!(
            auth::session(&w.app, &clock, &s.token)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            auth::bearer(&w.app, &clock, &bearer)
                .await
                .unwrap()
                .is_none()
        );

        // A stale edit of the account is refused.
        let r = admin::update_user(
            &w.app,
            &w.sys,
            id,
            user.version,
            UserInput {
                login: "agent.d".into(),
                display_name: "x".into(),
                roles: vec!["agent".into()],
                ..UserInput::default()
            },
        )
        .await;
        assert_eq!(code(&r), "version_conflict");
        assert!(!admin::user(&w.app, &w.sys, id).await.unwrap().active);
    })
    .await;
}

#[tokio::test]
async fn api_tokens_work_until_revoked() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.t", &["agent"]).await;
        let admin_ctx = w.user("admin.t", &["admin"]).await;
        let clock = w.clock();

        let (tid, token) = auth::create_token(&w.app, &agent, "呼叫中心集成", None)
            .await
            .unwrap();
        let p = auth::bearer(&w.app, &clock, &token)
            .await
            .unwrap()
            .expect("token works");
        assert_eq!(p.user.login, "agent.t", "{which:?}");
        assert_eq!(p.token, Some(tid));
        assert_eq!(p.key(), format!("token:{tid}"));
        assert_eq!(p.scope, Scope::All);
        // The token acts with its owner's permissions.
        let via_token = p.ctx(clock.clone(), "req-b".into(), "en".into());
        let id = w
            .customer(&via_token, individual("集成客户", "13800000091"))
            .await;
        assert_eq!(w.audit("customer", Some(id.0)).await[0].actor, "agent.t");

        let listed = auth::tokens(&w.app, &agent).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "呼叫中心集成");
        assert!(listed[0].last_used_at.is_some(), "use is recorded");

        // Only token admins make brand tokens; such a token sees only that brand.
        let brand = w.brand("aqua", "沁园").await;
        let r = auth::create_token(&w.app, &agent, "brand feed", Some(brand)).await;
        assert_eq!(code(&r), "forbidden");
        let (_, brand_token) = auth::create_token(&w.app, &admin_ctx, "沁园 API", Some(brand))
            .await
            .unwrap();
        let bp = auth::bearer(&w.app, &clock, &brand_token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            bp.scope,
            Scope::Brands(std::collections::BTreeSet::from([brand]))
        );
        let bctx = bp.ctx(clock.clone(), "req-c".into(), "zh-CN".into());
        assert_eq!(
            code(&ledger::get_customer(&w.app, &bctx, id).await),
            "not_found",
            "{which:?}: an admin's brand token is still only the brand"
        );

        let r = auth::create_token(&w.app, &agent, "  ", None).await;
        assert_eq!(fields(&r), ["name"]);

        // Token admins see every token; others only their own.
        let all = auth::tokens(&w.app, &admin_ctx).await.unwrap();
        assert_eq!(all.len(), 2, "{which:?}");
        assert_eq!(auth::tokens(&w.app, &agent).await.unwrap().len(), 1);

        // Another agent cannot revoke it; its owner can, and then it stops working.
        let other = w.user("agent.t2", &["agent"]).await;
        assert_eq!(
            code(&auth::revoke_token(&w.app, &other, tid).await),
            "not_found"
        );
        assert!(
            auth::bearer(&w.app, &clock, &token)
                .await
                .unwrap()
                .is_some()
        );
        auth::revoke_token(&w.app, &agent, tid).await.unwrap();
        assert!(
            auth::bearer(&w.app, &clock, &token)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            code(&auth::revoke_token(&w.app, &agent, tid).await),
            "not_found"
        );
        assert!(
            auth::bearer(&w.app, &clock, "garbage")
                .await
                .unwrap()
                .is_none()
        );
        let rows = w.audit("api_token", Some(tid.0)).await;
        assert_eq!(
            rows.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
            ["revoke", "create"]
        );
    })
    .await;
}

#[tokio::test]
async fn accounts_are_checked_when_made() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        w.create_user("agent.c", &["agent"], None, None).await;
        let brand = w.brand("aqua", "沁园").await;
        let make = |login: &str, roles: &[&str], password: Option<&str>| UserInput {
            login: login.into(),
            display_name: "某人".into(),
            roles: roles.iter().map(|r| (*r).to_string()).collect(),
            password: password.map(str::to_string),
            active: true,
            ..UserInput::default()
        };
        let cases: Vec<(&str, UserInput, &str)> = vec![
            (
                "taken login",
                make("agent.c", &["agent"], Some(PASSWORD)),
                "login",
            ),
            (
                "bad login",
                make("a b", &["agent"], Some(PASSWORD)),
                "login",
            ),
            (
                "short password",
                make("new.a", &["agent"], Some("short")),
                "password",
            ),
            ("no password", make("new.b", &["agent"], None), "password"),
            (
                "unknown role",
                make("new.c", &["boss"], Some(PASSWORD)),
                "roles",
            ),
            ("no role", make("new.d", &[], Some(PASSWORD)), "roles"),
            (
                "brand user without a brand",
                make("new.e", &["brand_user"], Some(PASSWORD)),
                "roles",
            ),
            (
                "outside party with a staff role",
                UserInput {
                    brand_id: Some(brand.0),
                    ..make("new.f", &["brand_user", "agent"], Some(PASSWORD))
                },
                "roles",
            ),
        ];
        for (what, input, field) in cases {
            let r = admin::create_user(&w.app, &w.sys, input).await;
            assert_eq!(fields(&r), [field], "{which:?}: {what}");
        }
        assert_eq!(admin::users(&w.app, &w.sys).await.unwrap().len(), 1);
    })
    .await;
}
