//! The customer ledger as an agent uses it: create, read, search, edit under If-Match, contacts,
//! addresses and the installed base.

use app::ledger::{self, AddressInput, ContactInput, CustomerFilter, CustomerInput, DeviceInput};
use domain::DeviceId;
use store::timeline::Of;
use testkit::each_backend;

use crate::{World, code, contact, fields, individual, xihu};

#[tokio::test]
async fn a_new_customer_shows_region_contacts_timeline_and_is_audited() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.li", &["agent"]).await;
        let created = ledger::create_customer(
            &w.app,
            &agent,
            CustomerInput {
                email: Some("zhang@example.cn".into()),
                address: Some(xihu("文三路 90 号 3 幢 201")),
                contacts: vec![
                    ContactInput {
                        title: Some("女儿".into()),
                        is_primary: true,
                        ..contact("张小花", "139 0000 1111")
                    },
                    contact("物业前台", "(0571) 8888 1234"),
                ],
                ..individual("张三", "+86 138-1234-5678")
            },
        )
        .await
        .unwrap();
        assert!(!created.replayed);
        let id = created.id;

        let o = ledger::overview(&w.app, &agent, id).await.unwrap();
        let c = &o.customer;
        assert_eq!(c.name, "张三", "{which:?}");
        assert_eq!(c.kind, "individual");
        assert_eq!(c.phone.as_deref(), Some("13812345678"), "normalised");
        assert!(!c.phone_masked, "an agent calls customers: whole number");
        assert_eq!(c.email.as_deref(), Some("zhang@example.cn"));
        assert_eq!(c.region, "浙江省杭州市西湖区");
        assert_eq!(c.province_code.as_deref(), Some("330000"));
        assert_eq!(c.city_code.as_deref(), Some("330100"));
        assert_eq!(c.district_code.as_deref(), Some("330106"));
        assert_eq!(c.status, "active");
        assert_eq!(c.version, 1);
        assert_eq!(c.created_at, crate::MONDAY_9AM);

        assert_eq!(o.addresses.len(), 1);
        let a = &o.addresses[0];
        assert_eq!(a.text, "浙江省杭州市西湖区西溪街道 文三路 90 号 3 幢 201");
        assert_eq!(a.street_code.as_deref(), Some("330106004"));
        assert_eq!(a.label.as_deref(), Some("家"));
        assert!(a.is_default, "the first address is the default");

        let names: Vec<(&str, Option<&str>, bool)> = o
            .contacts
            .iter()
            .map(|c| (c.name.as_str(), c.phone.as_deref(), c.is_primary))
            .collect();
        assert_eq!(
            names,
            [
                ("张小花", Some("13900001111"), true),
                ("物业前台", Some("057188881234"), false)
            ]
        );
        assert_eq!(o.contacts[0].title.as_deref(), Some("女儿"));

        assert_eq!(o.timeline.len(), 1, "{:?}", o.timeline);
        assert_eq!(o.timeline[0].kind, "created");
        assert_eq!(o.timeline[0].author.as_deref(), Some("agent.li 的名字"));
        assert_eq!(o.timeline[0].at, crate::MONDAY_9AM);
        assert!(o.devices.is_empty());
        assert!(o.timeline_next.is_none());

        let rows = w.audit("customer", Some(id.0)).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!(row.action, "create");
        assert_eq!(row.actor, "agent.li");
        assert_eq!(row.actor_id, agent.actor.user_id().map(|u| u.0));
        assert_eq!(row.request_id.as_deref(), Some("req-1"));
        assert_eq!(row.at, crate::MONDAY_9AM.0);
        let after = row.after_json.as_deref().unwrap();
        assert!(after.contains("张三"), "{after}");
        assert!(
            after.contains("138****5678") && !after.contains("13812345678"),
            "the audit log keeps phones masked: {after}"
        );
        let contacts = w.audit("contact", None).await;
        assert!(
            contacts.is_empty(),
            "contacts made with the customer are part of its row"
        );

        // The caller on the line is found by the customer's phone and by a contact's.
        for phone in ["13812345678", "+86 139-0000-1111", "0571-88881234"] {
            let found = ledger::find_by_phone(&w.app, &agent, phone).await.unwrap();
            assert_eq!(
                found.iter().map(|c| c.id).collect::<Vec<_>>(),
                [id.0],
                "{phone}"
            );
        }
        // Search by name prefix and by a phone prefix.
        for q in ["张", "张三", "1381234"] {
            let page = ledger::list_customers(
                &w.app,
                &agent,
                CustomerFilter {
                    q: Some(q.into()),
                    ..CustomerFilter::default()
                },
            )
            .await
            .unwrap();
            assert_eq!(
                page.items.iter().map(|c| c.id).collect::<Vec<_>>(),
                [id.0],
                "{q}"
            );
        }
        let none = ledger::list_customers(
            &w.app,
            &agent,
            CustomerFilter {
                q: Some("李".into()),
                ..CustomerFilter::default()
            },
        )
        .await
        .unwrap();
        assert!(none.items.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_municipality_reads_without_its_placeholder_city() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let id = w
            .customer(
                &w.sys,
                CustomerInput {
                    address: Some(AddressInput {
                        province_code: "310000".into(),
                        city_code: "310100".into(),
                        district_code: Some("310104".into()),
                        detail: "漕溪北路 88 号".into(),
                        ..AddressInput::default()
                    }),
                    ..individual("陈七", "13700000007")
                },
            )
            .await;
        let o = ledger::overview(&w.app, &w.sys, id).await.unwrap();
        assert_eq!(o.customer.region, "上海市徐汇区", "{which:?}");
        assert_eq!(o.addresses[0].text, "上海市徐汇区 漕溪北路 88 号");
    })
    .await;
}

#[tokio::test]
async fn an_update_needs_the_version_it_was_based_on() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.wang", &["agent"]).await;
        let id = w.customer(&agent, individual("李四", "13800000001")).await;
        let other = w.customer(&agent, individual("王五", "13800000002")).await;

        w.clock.advance_ms(60_000);
        let v2 = ledger::update_customer(
            &w.app,
            &agent,
            id,
            1,
            CustomerInput {
                remark: Some("只在周末上门".into()),
                ..individual("李四（老客户）", "13800000001")
            },
        )
        .await
        .unwrap();
        assert_eq!(v2.version, 2, "{which:?}");
        assert_eq!(v2.name, "李四（老客户）");
        assert_eq!(v2.remark.as_deref(), Some("只在周末上门"));
        assert_eq!(v2.updated_at, crate::MONDAY_9AM.plus_millis(60_000));

        // A second editor still holding version 1 is refused, and nothing changes.
        let stale = ledger::update_customer(
            &w.app,
            &agent,
            id,
            1,
            individual("李四（被覆盖）", "13800000009"),
        )
        .await;
        assert_eq!(code(&stale), "version_conflict", "{which:?}");
        let now = w.view(&agent, id).await;
        assert_eq!(now.name, "李四（老客户）");
        assert_eq!(now.phone.as_deref(), Some("13800000001"));
        assert_eq!(now.version, 2);
        assert!(
            ledger::find_by_phone(&w.app, &agent, "13800000009")
                .await
                .unwrap()
                .is_empty(),
            "the refused phone was not recorded"
        );

        // Taking another customer's phone is a duplicate, naming that customer.
        let dup =
            ledger::update_customer(&w.app, &agent, id, 2, individual("李四", "13800000002")).await;
        match dup {
            Err(app::Error::Duplicate { existing, .. }) => assert_eq!(existing, Some(other.0)),
            other => panic!("{which:?}: expected duplicate, got {other:?}"),
        }
        assert_eq!(w.view(&agent, id).await.version, 2);

        // A new phone replaces the old one for look-ups.
        let v3 = ledger::update_customer(&w.app, &agent, id, 2, individual("李四", "13800000003"))
            .await
            .unwrap();
        assert_eq!(v3.version, 3);
        let by_old = ledger::find_by_phone(&w.app, &agent, "13800000001")
            .await
            .unwrap();
        let by_new = ledger::find_by_phone(&w.app, &agent, "13800000003")
            .await
            .unwrap();
        assert!(by_old.is_empty(), "{by_old:?}");
        assert_eq!(by_new.len(), 1);

        // Contacts and addresses have their own use cases.
        let mixed = ledger::update_customer(
            &w.app,
            &agent,
            id,
            3,
            CustomerInput {
                address: Some(xihu("文一路 1 号")),
                ..individual("李四", "13800000003")
            },
        )
        .await;
        assert_eq!(code(&mixed), "validation");

        let unknown = ledger::update_customer(
            &w.app,
            &agent,
            domain::CustomerId(id.0 + 1000),
            1,
            individual("无此人", "13800000004"),
        )
        .await;
        assert_eq!(code(&unknown), "not_found");

        let updates: Vec<_> = w
            .audit("customer", Some(id.0))
            .await
            .into_iter()
            .filter(|r| r.action == "update")
            .collect();
        assert_eq!(updates.len(), 2, "one row per accepted update");
        assert!(updates[1].before_json.as_deref().unwrap().contains("李四"));
    })
    .await;
}

#[tokio::test]
async fn hostile_strings_are_stored_and_read_back_verbatim() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.zhao", &["agent"]).await;
        let script = "<script>alert(1)</script>";
        let drop = "'; DROP TABLE customers; --";
        let quotes = r#"O'Brien "老王" \ 100% _x_"#;
        let id = w
            .customer(
                &agent,
                CustomerInput {
                    remark: Some(drop.into()),
                    email: Some("a'b@x.cn".into()),
                    address: Some(xihu(script)),
                    contacts: vec![contact(quotes, "13900000002")],
                    ..individual(script, "13900000001")
                },
            )
            .await;
        ledger::add_note(
            &w.app,
            &agent,
            id,
            ledger::NoteInput {
                category: "other".into(),
                body: format!("{script}\n{drop}"),
                device_id: None,
            },
        )
        .await
        .unwrap();
        let dev = ledger::add_device(
            &w.app,
            &agent,
            id,
            DeviceInput {
                category: drop.into(),
                model: script.into(),
                serial: Some(quotes.into()),
                ..DeviceInput::default()
            },
        )
        .await
        .unwrap()
        .id;

        let o = ledger::overview(&w.app, &agent, id).await.unwrap();
        assert_eq!(o.customer.name, script, "{which:?}");
        assert_eq!(o.customer.remark.as_deref(), Some(drop));
        assert_eq!(o.customer.email.as_deref(), Some("a'b@x.cn"));
        assert_eq!(o.addresses[0].detail, script);
        assert!(o.addresses[0].text.ends_with(script));
        assert_eq!(o.contacts[0].name, quotes);
        assert_eq!(o.devices[0].model, script);
        assert_eq!(o.devices[0].category, drop);
        assert_eq!(o.devices[0].serial.as_deref(), Some(quotes));
        let note = o.timeline.iter().find(|e| e.kind == "note").unwrap();
        assert_eq!(note.body, format!("{script}\n{drop}"));
        let added = o
            .timeline
            .iter()
            .find(|e| e.kind == "device_added")
            .unwrap();
        assert_eq!(added.body, format!("{drop} {script}"));
        assert_eq!(added.device_id, Some(dev.0));

        // Searching with them finds what was stored and breaks nothing.
        for q in [script, "<script>", "'; DROP", "%", "_"] {
            let page = ledger::list_customers(
                &w.app,
                &agent,
                CustomerFilter {
                    q: Some(q.into()),
                    ..CustomerFilter::default()
                },
            )
            .await
            .unwrap();
            let want: &[i64] = if script.starts_with(q) { &[id.0] } else { &[] };
            assert_eq!(
                page.items.iter().map(|c| c.id).collect::<Vec<_>>(),
                want,
                "{which:?} q={q}"
            );
        }
        assert_eq!(w.count_customers().await, 1, "the table is still there");
    })
    .await;
}

#[tokio::test]
async fn contacts_and_addresses_are_added_and_removed() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.sun", &["agent"]).await;
        let id = w
            .customer(
                &agent,
                CustomerInput {
                    address: Some(xihu("文三路 90 号")),
                    ..individual("孙八", "13800000008")
                },
            )
            .await;

        let ct = ledger::add_contact(
            &w.app,
            &agent,
            id,
            ContactInput {
                title: Some("儿子".into()),
                is_primary: true,
                ..contact("孙小八", "13600000006")
            },
        )
        .await
        .unwrap()
        .id;
        let found = ledger::find_by_phone(&w.app, &agent, "13600000006")
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{which:?}");

        let o = ledger::overview(&w.app, &agent, id).await.unwrap();
        assert_eq!(o.contacts.len(), 1);
        assert_eq!(o.contacts[0].version, 1);
        let stale = ledger::delete_contact(&w.app, &agent, id, ct, 7).await;
        assert_eq!(code(&stale), "version_conflict");
        assert_eq!(
            ledger::overview(&w.app, &agent, id)
                .await
                .unwrap()
                .contacts
                .len(),
            1
        );
        let wrong_customer =
            ledger::delete_contact(&w.app, &agent, domain::CustomerId(id.0 + 99), ct, 1).await;
        assert_eq!(code(&wrong_customer), "not_found");

        ledger::delete_contact(&w.app, &agent, id, ct, 1)
            .await
            .unwrap();
        let o = ledger::overview(&w.app, &agent, id).await.unwrap();
        assert!(o.contacts.is_empty());
        assert!(
            ledger::find_by_phone(&w.app, &agent, "13600000006")
                .await
                .unwrap()
                .is_empty(),
            "a deleted contact's phone no longer finds the customer"
        );
        let deletes = w.audit("contact", Some(ct.0)).await;
        assert_eq!(
            deletes
                .iter()
                .map(|r| r.action.as_str())
                .collect::<Vec<_>>(),
            ["delete", "create"]
        );

        // A second address marked default becomes the customer's region.
        let shenzhen = ledger::add_address(
            &w.app,
            &agent,
            id,
            AddressInput {
                label: Some("公司".into()),
                province_code: "440000".into(),
                city_code: "440300".into(),
                district_code: Some("440305".into()),
                detail: "科技园 1 栋".into(),
                lng: Some(113.95),
                lat: Some(22.54),
                is_default: true,
                ..AddressInput::default()
            },
        )
        .await
        .unwrap()
        .id;
        let o = ledger::overview(&w.app, &agent, id).await.unwrap();
        assert_eq!(o.addresses.len(), 2);
        assert_eq!(o.addresses[0].id, shenzhen.0, "the default comes first");
        assert!(o.addresses[0].is_default && !o.addresses[1].is_default);
        assert_eq!(o.addresses[0].text, "广东省深圳市南山区 科技园 1 栋");
        assert_eq!(o.addresses[0].lng, Some(113.95));
        assert_eq!(o.customer.region, "广东省深圳市南山区");
    })
    .await;
}

#[tokio::test]
async fn the_installed_base_records_each_product_and_its_warranty() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.qian", &["agent"]).await;
        let brand = w.brand("qinyuan", "沁园").await;
        let id = w
            .customer(
                &agent,
                CustomerInput {
                    address: Some(xihu("文三路 90 号")),
                    ..individual("钱九", "13800000009")
                },
            )
            .await;
        let home = ledger::overview(&w.app, &agent, id)
            .await
            .unwrap()
            .addresses[0]
            .id;
        let purifier = DeviceInput {
            brand_id: Some(brand.0),
            category: "净水器".into(),
            model: "QG-RO-1203".into(),
            serial: Some("SN20250301001".into()),
            production_date: Some("2025-02-10".into()),
            purchase_date: Some("2025-03-01".into()),
            purchase_channel: Some("online".into()),
            install_date: Some("2025-03-05".into()),
            installer: Some("周师傅".into()),
            warranty_end: Some("2027-02-28".into()),
            address_id: Some(home),
        };
        let dev = ledger::add_device(&w.app, &agent, id, purifier.clone())
            .await
            .unwrap()
            .id;
        let old_door = ledger::add_device(
            &w.app,
            &agent,
            id,
            DeviceInput {
                category: "防盗门".into(),
                model: "FD-900".into(),
                purchase_date: Some("2020-05-01".into()),
                warranty_end: Some("2023-04-30".into()),
                ..DeviceInput::default()
            },
        )
        .await
        .unwrap()
        .id;

        let o = ledger::overview(&w.app, &agent, id).await.unwrap();
        assert_eq!(o.devices.len(), 2, "{which:?}");
        let d = o.devices.iter().find(|d| d.id == dev.0).unwrap();
        assert_eq!(d.brand_id, Some(brand.0));
        assert_eq!(d.purchase_date.as_deref(), Some("2025-03-01"));
        assert_eq!(d.purchase_channel.as_deref(), Some("online"));
        assert_eq!(d.installer.as_deref(), Some("周师傅"));
        assert_eq!(d.address_id, Some(home));
        assert_eq!(d.in_warranty, Some(true));
        let door = o.devices.iter().find(|d| d.id == old_door.0).unwrap();
        assert_eq!(door.in_warranty, Some(false), "ended 2023");
        assert_eq!(
            o.timeline
                .iter()
                .filter(|e| e.kind == "device_added")
                .count(),
            2
        );

        // Editing a device follows If-Match too.
        let moved = ledger::update_device(
            &w.app,
            &agent,
            dev,
            1,
            DeviceInput {
                model: "QG-RO-1203 Pro".into(),
                warranty_end: Some("2028-02-28".into()),
                ..purifier.clone()
            },
        )
        .await
        .unwrap();
        assert_eq!(moved.version, 2);
        assert_eq!(moved.model, "QG-RO-1203 Pro");
        let stale = ledger::update_device(&w.app, &agent, dev, 1, purifier.clone()).await;
        assert_eq!(code(&stale), "version_conflict");
        let now = ledger::get_device(&w.app, &agent, dev).await.unwrap();
        assert_eq!(now.model, "QG-RO-1203 Pro");
        assert_eq!(now.warranty_end.as_deref(), Some("2028-02-28"));
        let missing = ledger::get_device(&w.app, &agent, DeviceId(dev.0 + 100)).await;
        assert_eq!(code(&missing), "not_found");

        // References must be real and belong to this customer.
        let other = w.customer(&agent, individual("别人", "13800000010")).await;
        let foreign_address = ledger::add_device(
            &w.app,
            &agent,
            other,
            DeviceInput {
                address_id: Some(home),
                ..purifier.clone()
            },
        )
        .await;
        assert_eq!(fields(&foreign_address), ["address_id"]);
        let unknown_brand = ledger::add_device(
            &w.app,
            &agent,
            other,
            DeviceInput {
                brand_id: Some(brand.0 + 100),
                address_id: None,
                ..purifier
            },
        )
        .await;
        assert_eq!(fields(&unknown_brand), ["brand_id"]);
        let o = ledger::overview(&w.app, &agent, other).await.unwrap();
        assert!(o.devices.is_empty());
        assert_eq!(o.timeline.len(), 1, "only 'created'");

        let dev_timeline = ledger::timeline(&w.app, &agent, Of::Device(dev), None, None, None)
            .await
            .unwrap()
            .0;
        assert_eq!(
            dev_timeline
                .iter()
                .map(|e| e.kind.as_str())
                .collect::<Vec<_>>(),
            ["device_added"]
        );
    })
    .await;
}

#[tokio::test]
async fn the_customer_list_filters_and_pages_newest_first() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.list", &["agent"]).await;
        let mut made = Vec::new();
        for i in 0..7 {
            let input = CustomerInput {
                kind: if i == 3 { "dealer" } else { "individual" }.into(),
                address: (i % 2 == 0).then(|| xihu(&format!("{i} 号"))),
                ..individual(&format!("客户{i}"), &format!("1350000000{i}"))
            };
            made.push(w.customer(&agent, input).await.0);
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = ledger::list_customers(
                &w.app,
                &agent,
                CustomerFilter {
                    cursor,
                    limit: Some(3),
                    ..CustomerFilter::default()
                },
            )
            .await
            .unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|c| c.id));
            match page.next {
                Some(next) => cursor = Some(next.encode()),
                None => break,
            }
        }
        made.reverse();
        assert_eq!(seen, made, "{which:?}: every customer once, newest first");

        let filtered = |f: CustomerFilter| {
            let (app, agent) = (w.app.clone(), agent.clone());
            async move {
                ledger::list_customers(&app, &agent, f)
                    .await
                    .map(|p| p.items.len())
            }
        };
        let dealers = filtered(CustomerFilter {
            kind: Some("dealer".into()),
            ..CustomerFilter::default()
        })
        .await;
        assert_eq!(dealers.unwrap(), 1);
        let in_hangzhou = filtered(CustomerFilter {
            city: Some("330100".into()),
            ..CustomerFilter::default()
        })
        .await;
        assert_eq!(in_hangzhou.unwrap(), 4);
        let bad_kind = filtered(CustomerFilter {
            kind: Some("martian".into()),
            ..CustomerFilter::default()
        })
        .await;
        assert_eq!(fields(&bad_kind), ["kind"]);
        let bad_cursor = filtered(CustomerFilter {
            cursor: Some("%%%".into()),
            ..CustomerFilter::default()
        })
        .await;
        assert_eq!(fields(&bad_cursor), ["cursor"]);
    })
    .await;
}
