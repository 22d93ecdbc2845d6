//! One customer database, deduplicated by phone (A1): a duplicate is refused unless asked for,
//! listed for review, and merged keeping every history.

use app::ledger::{self, CustomerFilter, CustomerInput, DeviceInput, NoteInput};
use store::timeline::Of;
use testkit::each_backend;

use crate::{World, code, contact, fields, individual};

#[tokio::test]
async fn a_duplicate_phone_is_refused_naming_the_customer_who_has_it() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.dup", &["agent"]).await;
        let first = w
            .customer(
                &agent,
                CustomerInput {
                    contacts: vec![contact("王小五", "13700000005")],
                    ..individual("王五", "13800000005")
                },
            )
            .await;

        // The same number written differently, and a contact's number, are both duplicates.
        for phone in ["+86 138 0000 0005", "137-0000-0005"] {
            let r = ledger::create_customer(&w.app, &agent, individual("王五五", phone)).await;
            assert_eq!(code(&r), "duplicate", "{which:?} {phone}");
            match r {
                Err(app::Error::Duplicate { existing, message }) => {
                    assert_eq!(existing, Some(first.0));
                    assert!(message.contains(&first.0.to_string()), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(w.count_customers().await, 1, "{which:?}");
        assert!(ledger::duplicates(&w.app, &agent).await.unwrap().is_empty());

        // When the agent confirms it is another person, it is created and listed for review.
        let second = ledger::create_customer(
            &w.app,
            &agent,
            CustomerInput {
                allow_duplicate: true,
                ..individual("王五（新房）", "13800000005")
            },
        )
        .await
        .unwrap()
        .id;
        assert_ne!(second, first);
        assert_eq!(w.count_customers().await, 2);
        let groups = ledger::duplicates(&w.app, &agent).await.unwrap();
        assert_eq!(groups.len(), 1, "{which:?}: {groups:?}");
        assert_eq!(groups[0].phone, "13800000005");
        let mut ids: Vec<i64> = groups[0].customers.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [first.0, second.0]);

        let found = ledger::find_by_phone(&w.app, &agent, "13800000005")
            .await
            .unwrap();
        assert_eq!(found.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn merging_moves_everything_and_leaves_a_tombstone() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.m", &["agent"]).await;
        let manager = w.user("manager.m", &["manager"]).await;
        let keep = w
            .customer(
                &agent,
                CustomerInput {
                    address: Some(crate::xihu("文三路 90 号")),
                    ..individual("吴一", "13800000011")
                },
            )
            .await;
        ledger::add_device(
            &w.app,
            &agent,
            keep,
            DeviceInput {
                category: "净水器".into(),
                model: "RO-100".into(),
                ..DeviceInput::default()
            },
        )
        .await
        .unwrap();

        w.clock.advance_ms(3_600_000);
        let dup = w
            .customer(
                &agent,
                CustomerInput {
                    allow_duplicate: true,
                    contacts: vec![contact("吴太太", "13600000012")],
                    ..individual("吴一（重复）", "13800000011")
                },
            )
            .await;
        let moved_device = ledger::add_device(
            &w.app,
            &agent,
            dup,
            DeviceInput {
                category: "热水器".into(),
                model: "JSQ-16".into(),
                serial: Some("HW-0001".into()),
                ..DeviceInput::default()
            },
        )
        .await
        .unwrap()
        .id;
        let moved_note = ledger::add_note(
            &w.app,
            &agent,
            dup,
            NoteInput {
                category: "quality".into(),
                body: "热水器漏水".into(),
                device_id: Some(moved_device.0),
            },
        )
        .await
        .unwrap()
        .id;

        let kv = w.view(&agent, keep).await.version;
        let dv = w.view(&agent, dup).await.version;
        let before_keep = ledger::overview(&w.app, &agent, keep).await.unwrap();

        // Refusals first: none of them changes anything.
        let r = ledger::merge(&w.app, &agent, keep, kv, dup, dv).await;
        assert_eq!(code(&r), "forbidden", "{which:?}: agents do not merge");
        let r = ledger::merge(&w.app, &manager, keep, kv, keep, kv).await;
        assert_eq!(code(&r), "validation");
        assert_eq!(fields(&r), ["from_id"]);
        let r = ledger::merge(&w.app, &manager, keep, kv + 1, dup, dv).await;
        assert_eq!(code(&r), "version_conflict");
        let r = ledger::merge(&w.app, &manager, keep, kv, dup, dv - 1).await;
        assert_eq!(code(&r), "version_conflict");
        let r = ledger::merge(
            &w.app,
            &manager,
            keep,
            kv,
            domain::CustomerId(dup.0 + 50),
            1,
        )
        .await;
        assert_eq!(fields(&r), ["from_id"]);
        let r = ledger::merge(&w.app, &manager, domain::CustomerId(dup.0 + 50), 1, dup, dv).await;
        assert_eq!(code(&r), "not_found");

        let still = w.view(&agent, dup).await;
        assert_eq!(still.status, "active");
        assert_eq!(still.version, dv);
        let o = ledger::overview(&w.app, &agent, dup).await.unwrap();
        assert_eq!(o.devices.len(), 1);
        assert_eq!(o.contacts.len(), 1);
        let after_refusals = ledger::overview(&w.app, &agent, keep).await.unwrap();
        assert_eq!(after_refusals.devices.len(), before_keep.devices.len());
        assert_eq!(after_refusals.timeline.len(), before_keep.timeline.len());
        assert_eq!(after_refusals.customer.version, kv);
        assert!(
            w.audit("customer", Some(keep.0))
                .await
                .iter()
                .all(|r| r.action != "merge")
        );

        // The merge itself.
        w.clock.advance_ms(60_000);
        let merged = ledger::merge(&w.app, &manager, keep, kv, dup, dv)
            .await
            .unwrap();
        assert_eq!(merged.id, keep.0, "{which:?}");
        assert_eq!(merged.version, kv + 1);
        assert_eq!(merged.name, "吴一", "the survivor keeps its own fields");
        assert_eq!(merged.region, "浙江省杭州市西湖区");

        let tomb = w.view(&agent, dup).await;
        assert_eq!(tomb.status, "merged");
        assert_eq!(tomb.merged_into, Some(keep.0));
        assert_eq!(tomb.version, dv + 1);

        let o = ledger::overview(&w.app, &agent, keep).await.unwrap();
        let mut models: Vec<&str> = o.devices.iter().map(|d| d.model.as_str()).collect();
        models.sort_unstable();
        assert_eq!(models, ["JSQ-16", "RO-100"]);
        let moved = o.devices.iter().find(|d| d.id == moved_device.0).unwrap();
        assert_eq!(moved.customer_id, keep.0);
        let mut contacts: Vec<(&str, Option<&str>)> = o
            .contacts
            .iter()
            .map(|c| (c.name.as_str(), c.phone.as_deref()))
            .collect();
        contacts.sort_unstable();
        assert_eq!(
            contacts,
            [
                ("吴一（重复）", Some("13800000011")),
                ("吴太太", Some("13600000012"))
            ],
            "the duplicate's own name and phone live on as a contact"
        );
        let kinds: Vec<&str> = o.timeline.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "merged",
                "note",
                "device_added",
                "created",
                "device_added",
                "created"
            ],
            "newest first, both histories"
        );
        assert_eq!(o.timeline[0].body, format!("吴一（重复） (#{})", dup.0));
        assert_eq!(o.timeline[0].author.as_deref(), Some("manager.m 的名字"));
        assert_eq!(o.timeline[1].id, moved_note.0);
        assert_eq!(o.timeline[1].body, "热水器漏水");
        let dev_line = ledger::timeline(&w.app, &agent, Of::Device(moved_device), None, None, None)
            .await
            .unwrap()
            .0;
        assert_eq!(dev_line.len(), 2, "the device keeps its own timeline");

        // Both phones now lead to the survivor only; nothing is left to review.
        for phone in ["13800000011", "13600000012"] {
            let found = ledger::find_by_phone(&w.app, &agent, phone).await.unwrap();
            assert_eq!(
                found.iter().map(|c| c.id).collect::<Vec<_>>(),
                [keep.0],
                "{which:?} {phone}"
            );
        }
        assert!(ledger::duplicates(&w.app, &agent).await.unwrap().is_empty());
        assert!(
            ledger::overview(&w.app, &agent, dup)
                .await
                .unwrap()
                .devices
                .is_empty()
        );
        let list = ledger::list_customers(&w.app, &agent, CustomerFilter::default())
            .await
            .unwrap();
        assert_eq!(
            list.items.iter().map(|c| c.id).collect::<Vec<_>>(),
            [keep.0],
            "tombstones are not listed"
        );
        assert_eq!(w.count_customers().await, 1);

        // A tombstone cannot be merged or edited again.
        let again = ledger::merge(&w.app, &manager, keep, kv + 1, dup, dv + 1).await;
        assert_eq!(code(&again), "conflict");
        let edit = ledger::update_customer(
            &w.app,
            &agent,
            dup,
            dv + 1,
            individual("复活", "13800000099"),
        )
        .await;
        assert_ne!(code(&edit), "ok");
        assert_eq!(w.view(&agent, dup).await.name, "吴一（重复）");

        let rows = w.audit("customer", Some(keep.0)).await;
        let merge_row = rows.iter().find(|r| r.action == "merge").unwrap();
        assert_eq!(merge_row.actor, "manager.m");
        let before = merge_row.before_json.as_deref().unwrap();
        assert!(before.contains("吴一（重复）"), "{before}");
    })
    .await;
}
