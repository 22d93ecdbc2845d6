//! Every role sees only what it needs (Users and roles, I4): permissions per use case, masked
//! phones with audited reveals, and the brand and dealer slices of the ledger.

use app::ledger::{self, CustomerFilter, CustomerInput, DeviceInput, NoteInput};
use domain::CustomerId;
use store::timeline::Of;
use testkit::each_backend;

use crate::{World, code, contact, fields, individual, xihu};

fn ids(list: &[ledger::CustomerView]) -> Vec<i64> {
    let mut v: Vec<i64> = list.iter().map(|c| c.id).collect();
    v.sort_unstable();
    v
}

#[tokio::test]
async fn phones_are_masked_for_roles_that_do_not_call_and_reveals_are_audited() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.p", &["agent"]).await;
        let finance = w.user("finance.p", &["settlement_finance"]).await;
        let quality = w.user("dept.p", &["department_handler"]).await;
        let id = w
            .customer(
                &agent,
                CustomerInput {
                    contacts: vec![contact("褚太太", "13912345678")],
                    ..individual("褚一", "13812345678")
                },
            )
            .await;
        ledger::create_customer(
            &w.app,
            &agent,
            CustomerInput {
                allow_duplicate: true,
                ..individual("褚二", "13812345678")
            },
        )
        .await
        .unwrap();

        let seen = w.view(&agent, id).await;
        assert_eq!(seen.phone.as_deref(), Some("13812345678"), "{which:?}");
        assert!(!seen.phone_masked);

        for ctx in [&finance, &quality] {
            let o = ledger::overview(&w.app, ctx, id).await.unwrap();
            assert_eq!(
                o.customer.phone.as_deref(),
                Some("138****5678"),
                "{which:?}"
            );
            assert!(o.customer.phone_masked);
            assert_eq!(o.contacts[0].phone.as_deref(), Some("139****5678"));
            let list = ledger::list_customers(&w.app, ctx, CustomerFilter::default())
                .await
                .unwrap();
            assert!(
                list.items
                    .iter()
                    .all(|c| c.phone.as_deref() == Some("138****5678") && c.phone_masked)
            );
            let groups = ledger::duplicates(&w.app, ctx).await.unwrap();
            assert_eq!(groups[0].phone, "138****5678");
        }

        // Finance may not reveal; nothing is written.
        let r = ledger::reveal_phones(&w.app, &finance, id).await;
        assert_eq!(code(&r), "forbidden", "{which:?}");
        assert!(
            w.audit("customer", Some(id.0))
                .await
                .iter()
                .all(|r| r.action != "reveal_phone")
        );

        // A department handler may, and the reveal is on record with who and when.
        w.clock.advance_ms(120_000);
        let mut phones = ledger::reveal_phones(&w.app, &quality, id).await.unwrap();
        phones.sort();
        assert_eq!(
            phones,
            [
                ("褚一".to_string(), "13812345678".to_string()),
                ("褚太太".to_string(), "13912345678".to_string())
            ]
        );
        let rows = w.audit("customer", Some(id.0)).await;
        let reveal = rows.iter().find(|r| r.action == "reveal_phone").unwrap();
        assert_eq!(reveal.actor, "dept.p");
        assert_eq!(reveal.actor_id, quality.actor.user_id().map(|u| u.0));
        assert_eq!(reveal.at, crate::MONDAY_9AM.plus_millis(120_000).0);
        // Revealing once does not unmask the page.
        assert!(w.view(&quality, id).await.phone_masked);

        let unknown = ledger::reveal_phones(&w.app, &quality, CustomerId(id.0 + 500)).await;
        assert_eq!(code(&unknown), "not_found");
    })
    .await;
}

#[tokio::test]
async fn roles_without_a_permission_are_refused_and_change_nothing() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.r", &["agent"]).await;
        let finance = w.user("finance.r", &["settlement_finance"]).await;
        let id = w.customer(&agent, individual("卫一", "13800000061")).await;

        let r = ledger::create_customer(&w.app, &finance, individual("卫二", "13800000062")).await;
        assert_eq!(code(&r), "forbidden", "{which:?}");
        let r = ledger::update_customer(&w.app, &finance, id, 1, individual("改名", "13800000061"))
            .await;
        assert_eq!(code(&r), "forbidden");
        let r = ledger::add_note(
            &w.app,
            &finance,
            id,
            NoteInput {
                category: "other".into(),
                body: "财务备注".into(),
                device_id: None,
            },
        )
        .await;
        assert_eq!(code(&r), "forbidden");
        let r = ledger::add_device(
            &w.app,
            &finance,
            id,
            DeviceInput {
                category: "空调".into(),
                model: "X".into(),
                ..DeviceInput::default()
            },
        )
        .await;
        assert_eq!(code(&r), "forbidden");
        let r = ledger::add_contact(&w.app, &finance, id, contact("某人", "13900000000")).await;
        assert_eq!(code(&r), "forbidden");
        let r = app::admin::audit_log(&w.app, &agent, store::audit::AuditQuery::default()).await;
        assert_eq!(code(&r), "forbidden", "agents do not read the audit log");
        let r = app::admin::create_user(
            &w.app,
            &agent,
            app::admin::UserInput {
                login: "sneaky".into(),
                display_name: "Sneaky".into(),
                roles: vec!["admin".into()],
                password: Some(crate::PASSWORD.into()),
                ..app::admin::UserInput::default()
            },
        )
        .await;
        assert_eq!(code(&r), "forbidden", "agents do not make admins");
        let r = app::admin::create_brand(&w.app, &agent, "x", "X", "standard").await;
        assert_eq!(code(&r), "forbidden");

        assert_eq!(w.count_customers().await, 1);
        let o = ledger::overview(&w.app, &finance, id).await.unwrap();
        assert_eq!(o.customer.name, "卫一");
        assert_eq!(o.customer.version, 1);
        assert_eq!(o.timeline.len(), 1);
        assert!(o.devices.is_empty() && o.contacts.is_empty());
        let login =
            app::auth::login(&w.app, &w.clock(), "sneaky", crate::PASSWORD, "1.1.1.1").await;
        assert_eq!(code(&login), "bad_credentials");
    })
    .await;
}

#[tokio::test]
async fn a_brand_sees_only_the_customers_and_records_of_its_brand() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let admin = w.user("admin.b", &["admin"]).await;
        let aqua = w.brand("aqua", "沁园").await;
        let midea = w.brand("midea", "美的").await;
        let served = w
            .customer(
                &admin,
                CustomerInput {
                    address: Some(xihu("文三路 90 号")),
                    ..individual("蒋一", "13800000071")
                },
            )
            .await;
        let rivals = w.customer(&admin, individual("沈二", "13800000072")).await;
        let own = w.customer(&admin, individual("韩三", "13800000073")).await;
        let purifier = |brand: domain::BrandId, model: &str| DeviceInput {
            brand_id: Some(brand.0),
            category: "净水器".into(),
            model: model.into(),
            ..DeviceInput::default()
        };
        let aqua_dev = ledger::add_device(&w.app, &admin, served, purifier(aqua, "QG-1"))
            .await
            .unwrap()
            .id;
        let midea_dev_on_served =
            ledger::add_device(&w.app, &admin, served, purifier(midea, "MD-1"))
                .await
                .unwrap()
                .id;
        ledger::add_device(&w.app, &admin, rivals, purifier(midea, "MD-2"))
            .await
            .unwrap();
        ledger::add_note(
            &w.app,
            &admin,
            served,
            NoteInput {
                category: "quality".into(),
                body: "美的机器异响".into(),
                device_id: Some(midea_dev_on_served.0),
            },
        )
        .await
        .unwrap();
        ledger::add_note(
            &w.app,
            &admin,
            served,
            NoteInput {
                category: "sales".into(),
                body: "公司内部：有意购买新风".into(),
                device_id: None,
            },
        )
        .await
        .unwrap();

        let brand = w
            .user_linked("aqua.user", &["brand_user"], Some(aqua), None)
            .await;

        // Its own customer, with only its own devices and timeline entries.
        let page = ledger::overview(&w.app, &brand, served).await.unwrap();
        assert_eq!(page.customer.name, "蒋一", "{which:?}");
        assert!(page.customer.phone_masked, "brands see masks");
        assert_eq!(
            page.devices.iter().map(|d| d.id).collect::<Vec<_>>(),
            [aqua_dev.0]
        );
        assert_eq!(
            page.timeline
                .iter()
                .map(|e| (e.kind.as_str(), e.device_id))
                .collect::<Vec<_>>(),
            [("device_added", Some(aqua_dev.0))],
            "no company-internal or other-brand entries"
        );
        let list = ledger::list_customers(&w.app, &brand, CustomerFilter::default())
            .await
            .unwrap();
        assert_eq!(ids(&list.items), [served.0]);

        // Everything else is simply not there.
        for other in [rivals, own, CustomerId(served.0 + 1000)] {
            assert_eq!(
                code(&ledger::get_customer(&w.app, &brand, other).await),
                "not_found",
                "{which:?} {other:?}"
            );
            assert_eq!(
                code(&ledger::overview(&w.app, &brand, other).await),
                "not_found"
            );
            assert_eq!(
                code(
                    &ledger::timeline(&w.app, &brand, Of::Customer(other), None, None, None).await
                ),
                "not_found"
            );
            assert_eq!(
                code(&ledger::reveal_phones(&w.app, &brand, other).await),
                "forbidden"
            );
        }
        assert_eq!(
            code(&ledger::get_device(&w.app, &brand, midea_dev_on_served).await),
            "not_found"
        );
        assert!(
            ledger::find_by_phone(&w.app, &brand, "13800000072")
                .await
                .unwrap()
                .is_empty()
        );
        let by_name = ledger::list_customers(
            &w.app,
            &brand,
            CustomerFilter {
                q: Some("沈".into()),
                ..CustomerFilter::default()
            },
        )
        .await
        .unwrap();
        assert!(by_name.items.is_empty());
        assert!(ledger::duplicates(&w.app, &brand).await.unwrap().is_empty());

        // A brand registers products only under its own name.
        let refused = ledger::add_device(&w.app, &brand, served, purifier(midea, "MD-X")).await;
        assert_eq!(fields(&refused), ["brand_id"], "{which:?}");
        let mine = ledger::add_device(
            &w.app,
            &brand,
            served,
            DeviceInput {
                brand_id: None,
                ..purifier(aqua, "QG-2")
            },
        )
        .await
        .unwrap()
        .id;
        let device = ledger::get_device(&w.app, &brand, mine).await.unwrap();
        assert_eq!(
            device.brand_id,
            Some(aqua.0),
            "filled in from the brand's scope"
        );
        // It may not move its own product to another brand either.
        let refused = ledger::update_device(&w.app, &brand, mine, 1, purifier(midea, "QG-2")).await;
        assert_eq!(fields(&refused), ["brand_id"]);

        // Brand users do not create customers; a brand integration (an administrator's token
        // narrowed to the brand) does, and its customers are linked to that brand only.
        let refused =
            ledger::create_customer(&w.app, &brand, individual("杨四", "13800000074")).await;
        assert_eq!(code(&refused), "forbidden");
        let (_, token) = app::auth::create_token(&w.app, &admin, "沁园 CRM", Some(aqua))
            .await
            .unwrap();
        let integration = app::auth::bearer(&w.app, &w.clock(), &token)
            .await
            .unwrap()
            .unwrap()
            .ctx(w.clock(), "req-i".into(), "zh-CN".into());
        let new = w
            .customer(&integration, individual("杨四", "13800000074"))
            .await;
        let page = ledger::overview(&w.app, &brand, new).await.unwrap();
        assert_eq!(
            page.timeline
                .iter()
                .map(|e| e.kind.as_str())
                .collect::<Vec<_>>(),
            ["created"],
            "the brand sees the creation it made"
        );
        let list = ledger::list_customers(&w.app, &brand, CustomerFilter::default())
            .await
            .unwrap();
        assert_eq!(ids(&list.items), [served.0, new.0]);
        let midea_user = w
            .user_linked("midea.user", &["brand_user"], Some(midea), None)
            .await;
        let theirs = ledger::list_customers(&w.app, &midea_user, CustomerFilter::default())
            .await
            .unwrap();
        assert_eq!(ids(&theirs.items), [served.0, rivals.0]);
        assert_eq!(
            code(&ledger::get_customer(&w.app, &midea_user, new).await),
            "not_found"
        );
    })
    .await;
}

#[tokio::test]
async fn a_dealer_sees_itself_and_its_own_customers_and_creates_into_its_slice() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let admin = w.user("admin.d", &["admin"]).await;
        let dealer = w
            .customer(
                &admin,
                CustomerInput {
                    kind: "dealer".into(),
                    ..individual("西湖门业经销部", "057188880001")
                },
            )
            .await;
        let rival = w
            .customer(
                &admin,
                CustomerInput {
                    kind: "dealer".into(),
                    ..individual("滨江门窗", "057188880002")
                },
            )
            .await;
        let theirs = w
            .customer(
                &admin,
                CustomerInput {
                    dealer_id: Some(dealer.0),
                    ..individual("许一", "13800000081")
                },
            )
            .await;
        let not_theirs = w
            .customer(
                &admin,
                CustomerInput {
                    dealer_id: Some(rival.0),
                    ..individual("何二", "13800000082")
                },
            )
            .await;
        let direct = w.customer(&admin, individual("吕三", "13800000083")).await;

        // A dealer_id must name a dealer.
        let r = ledger::create_customer(
            &w.app,
            &admin,
            CustomerInput {
                dealer_id: Some(direct.0),
                ..individual("施四", "13800000084")
            },
        )
        .await;
        assert_eq!(fields(&r), ["dealer_id"], "{which:?}");

        let d = w
            .user_linked("dealer.user", &["dealer_user"], None, Some(dealer))
            .await;
        let list = ledger::list_customers(&w.app, &d, CustomerFilter::default())
            .await
            .unwrap();
        assert_eq!(ids(&list.items), [dealer.0, theirs.0], "{which:?}");
        assert_eq!(w.view(&d, theirs).await.name, "许一");
        for other in [rival, not_theirs, direct] {
            assert_eq!(
                code(&ledger::get_customer(&w.app, &d, other).await),
                "not_found",
                "{which:?} {other:?}"
            );
        }
        let r = ledger::update_customer(&w.app, &d, not_theirs, 1, individual("改", "13800000082"))
            .await;
        assert_eq!(code(&r), "not_found");
        assert_eq!(w.view(&admin, not_theirs).await.name, "何二");

        // What the dealer creates is its own, whatever the body says.
        let mine = w.customer(&d, individual("孔五", "13800000085")).await;
        let claimed = w
            .customer(
                &d,
                CustomerInput {
                    dealer_id: Some(rival.0),
                    ..individual("曹六", "13800000086")
                },
            )
            .await;
        for id in [mine, claimed] {
            let v = w.view(&admin, id).await;
            assert_eq!(v.dealer_id, Some(dealer.0), "{which:?} {}", v.name);
        }
        // Moving a customer out of the slice by editing is not possible either.
        let moved = ledger::update_customer(
            &w.app,
            &d,
            theirs,
            1,
            CustomerInput {
                dealer_id: Some(rival.0),
                ..individual("许一", "13800000081")
            },
        )
        .await
        .unwrap();
        assert_eq!(moved.dealer_id, Some(dealer.0));

        // Another dealer's customer's phone is not a duplicate the dealer can learn about.
        let probe = ledger::create_customer(&w.app, &d, individual("探", "13800000082")).await;
        assert_ne!(code(&probe), "duplicate", "{which:?}: {probe:?}");

        let list = ledger::list_customers(&w.app, &d, CustomerFilter::default())
            .await
            .unwrap();
        assert_eq!(list.items.len(), 5, "{which:?}");
        assert!(
            list.items
                .iter()
                .all(|c| c.id == dealer.0 || c.dealer_id == Some(dealer.0))
        );
    })
    .await;
}

#[tokio::test]
async fn a_brand_cannot_attach_itself_to_a_customer_it_does_not_serve() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let aqua = w.brand("aqua", "沁园").await;
        let stranger = w
            .customer(
                &w.sys,
                CustomerInput {
                    address: Some(xihu("文三路 90 号")),
                    contacts: vec![contact("家人", "13900000131")],
                    ..individual("陌生人", "13800000131")
                },
            )
            .await;
        let brand = w
            .user_linked("aqua.probe", &["brand_user"], Some(aqua), None)
            .await;
        assert_eq!(
            code(&ledger::get_customer(&w.app, &brand, stranger).await),
            "not_found"
        );

        // Guessing the id and registering a product there must not open the customer up.
        let r = ledger::add_device(
            &w.app,
            &brand,
            stranger,
            DeviceInput {
                category: "净水器".into(),
                model: "QG-1".into(),
                ..DeviceInput::default()
            },
        )
        .await;
        assert_eq!(code(&r), "not_found", "{which:?}: {r:?}");
        assert_eq!(
            code(&ledger::get_customer(&w.app, &brand, stranger).await),
            "not_found",
            "{which:?}: the customer's name and address leaked to the brand"
        );
        let o = ledger::overview(&w.app, &w.sys, stranger).await.unwrap();
        assert!(o.devices.is_empty());
    })
    .await;
}
