//! One timeline per customer and per device, with feedback classified by category (A3).

use std::collections::BTreeSet;

use app::ledger::{self, DeviceInput, NoteInput};
use store::timeline::Of;
use testkit::each_backend;

use crate::{World, fields, individual};

fn note(category: &str, body: &str) -> NoteInput {
    NoteInput {
        category: category.into(),
        body: body.into(),
        device_id: None,
    }
}

#[tokio::test]
async fn notes_are_classified_and_device_notes_show_on_both_timelines() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.tl", &["agent"]).await;
        let other_agent = w.user("agent.tl2", &["agent"]).await;
        let id = w.customer(&agent, individual("褚九", "13800000101")).await;
        let other = w.customer(&agent, individual("卫十", "13800000102")).await;
        let heater = ledger::add_device(
            &w.app,
            &agent,
            id,
            DeviceInput {
                category: "热水器".into(),
                model: "JSQ-20".into(),
                ..DeviceInput::default()
            },
        )
        .await
        .unwrap()
        .id;
        let foreign = ledger::add_device(
            &w.app,
            &agent,
            other,
            DeviceInput {
                category: "空调".into(),
                model: "KFR-26".into(),
                ..DeviceInput::default()
            },
        )
        .await
        .unwrap()
        .id;

        w.clock.advance_ms(60_000);
        ledger::add_note(
            &w.app,
            &agent,
            id,
            note("consultation", "问新款净水器的价格"),
        )
        .await
        .unwrap();
        w.clock.advance_ms(60_000);
        let on_device = ledger::add_note(
            &w.app,
            &other_agent,
            id,
            NoteInput {
                device_id: Some(heater.0),
                ..note("quality", "热水器温度忽高忽低")
            },
        )
        .await
        .unwrap()
        .id;
        w.clock.advance_ms(60_000);
        ledger::add_note(&w.app, &agent, id, note("quality", "上次维修后仍有异响"))
            .await
            .unwrap();

        // A device of another customer cannot carry this customer's note.
        let r = ledger::add_note(
            &w.app,
            &agent,
            id,
            NoteInput {
                device_id: Some(foreign.0),
                ..note("quality", "错放")
            },
        )
        .await;
        assert_eq!(fields(&r), ["device_id"], "{which:?}");

        let (all, next) = ledger::timeline(&w.app, &agent, Of::Customer(id), None, None, None)
            .await
            .unwrap();
        assert!(next.is_none());
        let seen: Vec<(&str, Option<&str>, &str)> = all
            .iter()
            .map(|e| (e.kind.as_str(), e.category.as_deref(), e.body.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("note", Some("quality"), "上次维修后仍有异响"),
                ("note", Some("quality"), "热水器温度忽高忽低"),
                ("note", Some("consultation"), "问新款净水器的价格"),
                ("device_added", None, "热水器 JSQ-20"),
                ("created", None, ""),
            ],
            "{which:?}: newest first"
        );
        assert_eq!(all[0].category_name.as_deref(), Some("质量反馈"));
        assert_eq!(all[2].category_name.as_deref(), Some("产品咨询"));
        assert_eq!(all[1].author.as_deref(), Some("agent.tl2 的名字"));
        assert_eq!(all[1].device_id, Some(heater.0));
        assert_eq!(all[1].at, crate::MONDAY_9AM.plus_millis(120_000));

        // In English the category reads in English.
        let en = app::Ctx {
            locale: "en".into(),
            ..agent.clone()
        };
        let (en_list, _) = ledger::timeline(&w.app, &en, Of::Customer(id), None, None, None)
            .await
            .unwrap();
        assert_eq!(
            en_list[0].category_name.as_deref(),
            Some("Quality feedback")
        );

        // The device's own timeline: its creation and its note, nothing else.
        let (dev, _) = ledger::timeline(&w.app, &agent, Of::Device(heater), None, None, None)
            .await
            .unwrap();
        assert_eq!(
            dev.iter().map(|e| e.id).collect::<Vec<_>>(),
            [on_device.0, all[3].id]
        );

        // Filtering by category.
        let (quality, _) = ledger::timeline(
            &w.app,
            &agent,
            Of::Customer(id),
            Some("quality"),
            None,
            None,
        )
        .await
        .unwrap();
        assert_eq!(quality.len(), 2);
        assert!(
            quality
                .iter()
                .all(|e| e.category.as_deref() == Some("quality"))
        );
        let (none, _) =
            ledger::timeline(&w.app, &agent, Of::Customer(id), Some("price"), None, None)
                .await
                .unwrap();
        assert!(none.is_empty());
        let r =
            ledger::timeline(&w.app, &agent, Of::Customer(id), Some("gossip"), None, None).await;
        assert_eq!(fields(&r), ["category"]);
        let r = ledger::timeline(
            &w.app,
            &agent,
            Of::Customer(id),
            None,
            Some("garbage!"),
            None,
        )
        .await;
        assert_eq!(fields(&r), ["cursor"]);

        // The other customer's timeline knows nothing of these.
        let (theirs, _) = ledger::timeline(&w.app, &agent, Of::Customer(other), None, None, None)
            .await
            .unwrap();
        assert_eq!(theirs.len(), 2, "created and device_added");
        let categories = ledger::note_categories(&w.app).await.unwrap();
        assert!(categories.iter().any(|c| c.code == "installation"));
    })
    .await;
}

#[tokio::test]
async fn paging_through_a_long_timeline_returns_every_entry_once() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.pg", &["agent"]).await;
        let id = w
            .customer(&agent, individual("长历史", "13800000111"))
            .await;
        let cats = ["consultation", "quality", "service"];
        for i in 0..120 {
            // Several notes share an instant, so the order must break ties by id.
            if i % 3 == 0 {
                w.clock.advance_ms(1_000);
            }
            ledger::add_note(&w.app, &agent, id, note(cats[i % 3], &format!("第{i}条")))
                .await
                .unwrap_or_else(|e| panic!("{which:?}: note {i}: {e}"));
        }

        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let (page, next) = ledger::timeline(
                &w.app,
                &agent,
                Of::Customer(id),
                None,
                cursor.as_deref(),
                Some(25),
            )
            .await
            .unwrap();
            assert!(page.len() <= 25);
            pages += 1;
            got.extend(page);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
            assert!(pages < 20, "{which:?}: paging does not end");
        }
        assert_eq!(got.len(), 121, "{which:?}: 120 notes and 'created'");
        let unique: BTreeSet<i64> = got.iter().map(|e| e.id).collect();
        assert_eq!(unique.len(), 121, "no entry twice");
        assert!(
            got.windows(2)
                .all(|p| (p[0].at, p[0].id) > (p[1].at, p[1].id)),
            "strictly newest first"
        );
        assert_eq!(got[0].body, "第119条");
        assert_eq!(got.last().unwrap().kind, "created");

        // The same with a category filter and an odd page size.
        let mut quality = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) = ledger::timeline(
                &w.app,
                &agent,
                Of::Customer(id),
                Some("quality"),
                cursor.as_deref(),
                Some(7),
            )
            .await
            .unwrap();
            quality.extend(page);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(quality.len(), 40, "{which:?}");
        let bodies: BTreeSet<&str> = quality.iter().map(|e| e.body.as_str()).collect();
        let want: BTreeSet<String> = (0..120)
            .filter(|i| i % 3 == 1)
            .map(|i| format!("第{i}条"))
            .collect();
        assert_eq!(bodies, want.iter().map(String::as_str).collect());

        // The customer page shows the latest 50 and where to continue.
        let o = ledger::overview(&w.app, &agent, id).await.unwrap();
        assert_eq!(o.timeline.len(), 50);
        let rest = ledger::timeline(
            &w.app,
            &agent,
            Of::Customer(id),
            None,
            o.timeline_next.as_deref(),
            Some(200),
        )
        .await
        .unwrap();
        assert_eq!(rest.0.len(), 71);
        assert!(rest.1.is_none());
    })
    .await;
}
