//! Full-text search (D9): Chinese and English words, phone numbers and their tails, filters,
//! highlights, re-indexing on change, brand and dealer isolation, hostile input.

use app::ledger::{self, AddressInput, CustomerInput, DeviceInput};
use app::search::{self, Doc, DocKind, SearchInput, SearchPage};
use app::{Clock, Ctx, Error};
use domain::{BrandId, CustomerId, Timestamp};
use testkit::each_backend;

use crate::{World, code, fields, individual, xihu};

fn q(text: &str) -> SearchInput {
    SearchInput {
        q: Some(text.into()),
        ..SearchInput::default()
    }
}

async fn find(w: &World, ctx: &Ctx, input: SearchInput) -> SearchPage {
    search::search(&w.app, ctx, input)
        .await
        .unwrap_or_else(|e| panic!("{:?}: search: {e}", w.which))
}

/// (kind, id) of each hit, best first.
fn hits(p: &SearchPage) -> Vec<(String, i64)> {
    p.items.iter().map(|h| (h.kind.clone(), h.id)).collect()
}

fn has(p: &SearchPage, kind: &str, id: i64) -> bool {
    p.items.iter().any(|h| h.kind == kind && h.id == id)
}

/// 北京市海淀区 and a street detail.
fn haidian(detail: &str) -> AddressInput {
    AddressInput {
        province_code: "110000".into(),
        city_code: "110100".into(),
        district_code: Some("110108".into()),
        detail: detail.into(),
        ..AddressInput::default()
    }
}

fn aircon(serial: &str, brand: Option<BrandId>) -> DeviceInput {
    DeviceInput {
        brand_id: brand.map(|b| b.0),
        category: "空调".into(),
        model: "KFR-35GW/BP".into(),
        serial: Some(serial.into()),
        ..DeviceInput::default()
    }
}

/// Writes a ticket-like document the way the ticket desk will.
async fn ticket_doc(
    w: &World,
    id: i64,
    customer: CustomerId,
    brand: Option<BrandId>,
    title: &str,
    body: &str,
    (status, kind): (&str, &str),
) {
    let doc = Doc {
        kind: DocKind::Ticket,
        id,
        brand_id: brand,
        customer_id: Some(customer),
        title: title.into(),
        body: body.into(),
        keys: vec![format!("TK{id:06}")],
        status: Some(status.into()),
        sub_kind: Some(kind.into()),
        at: Timestamp(w.clock.now().0 + id),
    }
    .prepare();
    w.app
        .db
        .write(move |c| Box::pin(async move { search::index(c, &doc).await }))
        .await
        .expect("index ticket");
}

#[tokio::test]
async fn chinese_english_and_phone_searches_find_their_records() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.s", &["agent"]).await;
        let zhang = w
            .customer(
                &agent,
                CustomerInput {
                    address: Some(haidian("中关村大街1号")),
                    remark: Some("VIP customer, prefers WeChat".into()),
                    ..individual("张伟", "13812345678")
                },
            )
            .await;
        let li = w
            .customer(
                &agent,
                CustomerInput {
                    address: Some(xihu("文三路90号")),
                    ..individual("李娜", "13987654321")
                },
            )
            .await;
        let dev = ledger::add_device(&w.app, &agent, zhang, aircon("SN2026KT0001", None))
            .await
            .unwrap()
            .id;
        ticket_doc(
            &w,
            1,
            li,
            None,
            "冰箱漏水",
            "客户反映冰箱漏水，地板都湿了。已安排上门。",
            ("open", "repair"),
        )
        .await;
        ticket_doc(
            &w,
            2,
            zhang,
            None,
            "空调不制冷",
            "Air conditioner not cooling, error E1",
            ("closed", "repair"),
        )
        .await;

        // Chinese: the whole address, a part of it, a name.
        let p = find(&w, &agent, q("北京海淀区张伟")).await;
        assert_eq!(
            hits(&p).first(),
            Some(&("customer".to_string(), zhang.0)),
            "{which:?} {p:?}"
        );
        assert!(!has(&p, "customer", li.0), "{which:?}");
        assert!(has(&find(&w, &agent, q("海淀")).await, "customer", zhang.0));
        assert!(has(&find(&w, &agent, q("李娜")).await, "customer", li.0));

        // A ticket's words, found by one of them; the other ticket is not a hit.
        let p = find(&w, &agent, q("漏水")).await;
        assert_eq!(hits(&p), [("ticket".to_string(), 1)], "{which:?}");
        let t = &p.items[0];
        assert_eq!(
            t.title
                .iter()
                .map(|s| (s.text.as_str(), s.hit))
                .collect::<Vec<_>>(),
            [("冰箱", false), ("漏水", true)],
            "highlight segments of the title"
        );
        assert!(t.snippet.iter().any(|s| s.hit && s.text == "漏水"));
        assert_eq!(p.terms, ["漏水"]);

        // The device: its category, its serial (whole or the start), its model.
        for words in ["空调", "SN2026KT0001", "sn2026", "KFR-35GW", "kfr"] {
            let p = find(&w, &agent, q(words)).await;
            assert!(has(&p, "device", dev.0), "{which:?} {words}: {p:?}");
        }
        // English words, any case.
        assert!(has(
            &find(&w, &agent, q("wechat")).await,
            "customer",
            zhang.0
        ));
        assert!(has(&find(&w, &agent, q("NOT cooling")).await, "ticket", 2));

        // Phone numbers: whole, written with separators, the last four digits.
        for phone in ["13812345678", "138-1234-5678", "+86 138 1234 5678", "5678"] {
            let p = find(&w, &agent, q(phone)).await;
            assert!(has(&p, "customer", zhang.0), "{which:?} {phone}: {p:?}");
            assert!(!has(&p, "customer", li.0), "{which:?} {phone}");
        }
        assert!(has(&find(&w, &agent, q("4321")).await, "customer", li.0));
        // The phone is found but never shown.
        let p = find(&w, &agent, q("5678")).await;
        let shown: String = p
            .items
            .iter()
            .flat_map(|h| h.title.iter().chain(&h.snippet))
            .map(|s| s.text.as_str())
            .collect();
        assert!(!shown.contains("13812345678"), "{shown}");

        // Nothing found is an empty page, not an error.
        assert!(find(&w, &agent, q("洗衣机")).await.items.is_empty());
    })
    .await;
}

#[tokio::test]
async fn filters_paging_and_bad_input() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.f", &["agent"]).await;
        let c = w.customer(&agent, individual("王芳", "13811112222")).await;
        for id in 1..=5 {
            let status = if id % 2 == 0 { "closed" } else { "open" };
            let kind = if id <= 3 { "repair" } else { "complaint" };
            ticket_doc(
                &w,
                id,
                c,
                None,
                &format!("热水器漏水 {id}"),
                "热水器漏水需要维修",
                (status, kind),
            )
            .await;
        }
        ledger::add_device(
            &w.app,
            &agent,
            c,
            DeviceInput {
                category: "热水器".into(),
                model: "JSQ25".into(),
                ..DeviceInput::default()
            },
        )
        .await
        .unwrap();

        let all = find(&w, &agent, q("热水器")).await;
        assert_eq!(all.items.len(), 6, "{which:?}");
        let tickets = find(
            &w,
            &agent,
            SearchInput {
                kind: Some("ticket".into()),
                ..q("热水器")
            },
        )
        .await;
        assert_eq!(tickets.items.len(), 5);
        let open = find(
            &w,
            &agent,
            SearchInput {
                kind: Some("ticket".into()),
                status: Some("open".into()),
                ..q("漏水")
            },
        )
        .await;
        let mut ids: Vec<i64> = open.items.iter().map(|h| h.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 3, 5], "{which:?}");
        let complaints = find(
            &w,
            &agent,
            SearchInput {
                sub_kind: Some("complaint".into()),
                ..q("漏水")
            },
        )
        .await;
        assert_eq!(complaints.items.len(), 2);
        let devices = find(
            &w,
            &agent,
            SearchInput {
                kind: Some("device,customer".into()),
                ..q("热水器")
            },
        )
        .await;
        assert_eq!(
            hits(&devices)
                .iter()
                .map(|h| h.0.as_str())
                .collect::<Vec<_>>(),
            ["device"]
        );

        // Pages of two: every ticket once, then no cursor.
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let p = find(
                &w,
                &agent,
                SearchInput {
                    kind: Some("ticket".into()),
                    limit: Some(2),
                    cursor: cursor.clone(),
                    ..q("漏水")
                },
            )
            .await;
            seen.extend(p.items.iter().map(|h| h.id));
            match p.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, [1, 2, 3, 4, 5], "{which:?}");

        // Bad input: named fields, stable codes.
        let r = search::search(&w.app, &agent, q("   ")).await;
        assert_eq!(fields(&r), ["q"], "{which:?}");
        let r = search::search(&w.app, &agent, q(&"漏".repeat(101))).await;
        assert_eq!(fields(&r), ["q"]);
        let r = search::search(
            &w.app,
            &agent,
            SearchInput {
                kind: Some("order".into()),
                ..q("漏水")
            },
        )
        .await;
        assert_eq!(fields(&r), ["kind"]);
        let r = search::search(
            &w.app,
            &agent,
            SearchInput {
                cursor: Some("bm90IG1pbmU".into()),
                ..q("漏水")
            },
        )
        .await;
        assert_eq!(fields(&r), ["cursor"]);
        assert!(matches!(
            search::search(&w.app, &agent, SearchInput::default()).await,
            Err(Error::Validation { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn hostile_queries_never_fail() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.h", &["agent"]).await;
        let c = w
            .customer(&agent, individual("OR 先生", "13822223333"))
            .await;
        for nasty in [
            "\"",
            "\"\"",
            "*",
            "漏水*",
            "NEAR(",
            "NEAR(a b)",
            "OR",
            "a OR b",
            "AND NOT",
            "-",
            "^",
            "'",
            "'; DROP TABLE search_docs; --",
            "a:*",
            "!",
            "&|",
            "(",
            ")",
            "\\",
            "{}",
            "col:x",
            "\u{0}",
            "😀",
            "%",
            "_",
        ] {
            let r = search::search(&w.app, &agent, q(nasty)).await;
            assert!(
                matches!(r, Ok(_) | Err(Error::Validation { .. })),
                "{which:?} {nasty:?}: {:?}",
                r.err()
            );
        }
        // Operator words are just words.
        assert!(
            has(&find(&w, &agent, q("OR")).await, "customer", c.0),
            "{which:?}"
        );
        assert!(has(
            &find(&w, &agent, q("\"or\" 先生")).await,
            "customer",
            c.0
        ));
    })
    .await;
}

#[tokio::test]
async fn changes_replace_old_words_and_merges_move_them() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.u", &["agent"]).await;
        let manager = w.user("manager.u", &["manager"]).await;
        let c = w.customer(&agent, individual("赵敏", "13833334444")).await;
        assert!(has(&find(&w, &agent, q("赵敏")).await, "customer", c.0));

        let v = w.view(&agent, c).await;
        ledger::update_customer(
            &w.app,
            &agent,
            c,
            v.version,
            individual("周芷若", "13855556666"),
        )
        .await
        .unwrap();
        assert!(
            find(&w, &agent, q("赵敏")).await.items.is_empty(),
            "{which:?} old name gone"
        );
        assert!(
            find(&w, &agent, q("4444")).await.items.is_empty(),
            "old phone gone"
        );
        assert!(has(&find(&w, &agent, q("周芷若")).await, "customer", c.0));
        assert!(has(&find(&w, &agent, q("6666")).await, "customer", c.0));

        // A device edited: the old model is no longer a word of it.
        let fridge = ledger::add_device(&w.app, &agent, c, aircon("SNOLD1", None))
            .await
            .unwrap()
            .id;
        let mut input = aircon("SNNEW2", None);
        input.category = "冰箱".into();
        ledger::update_device(&w.app, &agent, fridge, 1, input)
            .await
            .unwrap();
        assert!(
            find(&w, &agent, q("snold1")).await.items.is_empty(),
            "{which:?}"
        );
        assert!(has(&find(&w, &agent, q("冰箱")).await, "device", fridge.0));

        // Contacts and addresses added later are found too.
        ledger::add_contact(&w.app, &agent, c, crate::contact("殷素素", "13977778888"))
            .await
            .unwrap();
        assert!(
            has(&find(&w, &agent, q("殷素素")).await, "customer", c.0),
            "{which:?}"
        );
        assert!(has(&find(&w, &agent, q("8888")).await, "customer", c.0));
        ledger::add_address(&w.app, &agent, c, haidian("上地十街10号"))
            .await
            .unwrap();
        assert!(has(&find(&w, &agent, q("上地")).await, "customer", c.0));

        // Merge: the duplicate disappears, the survivor is found by the duplicate's name.
        let dup = w
            .customer(
                &agent,
                CustomerInput {
                    allow_duplicate: true,
                    ..individual("张无忌", "13855556666")
                },
            )
            .await;
        let dev2 = ledger::add_device(&w.app, &agent, dup, aircon("SNDUP3", None))
            .await
            .unwrap()
            .id;
        let (kept, gone) = (w.view(&agent, c).await, w.view(&agent, dup).await);
        ledger::merge(&w.app, &manager, c, kept.version, dup, gone.version)
            .await
            .unwrap();
        let p = find(&w, &agent, q("张无忌")).await;
        assert_eq!(hits(&p), [("customer".to_string(), c.0)], "{which:?}");
        let p = find(&w, &agent, q("sndup3")).await;
        assert_eq!(
            p.items[0].customer_id,
            Some(c.0),
            "the device moved with the merge"
        );
        assert_eq!(p.items[0].id, dev2.0);

        // Rebuilding from scratch gives the same answers.
        let report = search::reindex(&w.app, &w.sys).await.unwrap();
        assert_eq!((report.customers, report.devices), (1, 2), "{which:?}");
        assert!(has(&find(&w, &agent, q("张无忌")).await, "customer", c.0));
        assert!(find(&w, &agent, q("赵敏")).await.items.is_empty());
        assert!(has(&find(&w, &agent, q("sndup3")).await, "device", dev2.0));
    })
    .await;
}

#[tokio::test]
async fn brands_and_dealers_find_only_their_own() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let admin = w.user("admin.i", &["admin"]).await;
        let aqua = w.brand("AQUA", "清泉净水").await;
        let midea = w.brand("MIDEA", "美的").await;
        let served = w
            .customer(&admin, individual("漏水一", "13800000101"))
            .await;
        let rival = w
            .customer(&admin, individual("漏水二", "13800000102"))
            .await;
        let own = w
            .customer(&admin, individual("漏水三", "13800000103"))
            .await;
        let aqua_dev = ledger::add_device(&w.app, &admin, served, aircon("AQ1", Some(aqua)))
            .await
            .unwrap()
            .id;
        let midea_dev = ledger::add_device(&w.app, &admin, served, aircon("MD1", Some(midea)))
            .await
            .unwrap()
            .id;
        ledger::add_device(&w.app, &admin, rival, aircon("MD2", Some(midea)))
            .await
            .unwrap();
        ticket_doc(
            &w,
            10,
            served,
            Some(aqua),
            "净水器漏水",
            "aqua ticket",
            ("open", "repair"),
        )
        .await;
        ticket_doc(
            &w,
            11,
            served,
            Some(midea),
            "空调漏水",
            "midea ticket",
            ("open", "repair"),
        )
        .await;
        ticket_doc(
            &w,
            12,
            own,
            None,
            "自营漏水",
            "company ticket",
            ("open", "repair"),
        )
        .await;

        let brand = w
            .user_linked("aqua.i", &["brand_user"], Some(aqua), None)
            .await;
        let p = find(&w, &brand, q("漏水")).await;
        let mut got = hits(&p);
        got.sort();
        assert_eq!(
            got,
            [
                ("customer".to_string(), served.0),
                ("ticket".to_string(), 10)
            ],
            "{which:?}"
        );
        let p = find(&w, &brand, q("空调")).await;
        assert_eq!(
            hits(&p),
            [("device".to_string(), aqua_dev.0)],
            "{which:?} not {midea_dev:?}"
        );
        assert!(find(&w, &brand, q("MD2")).await.items.is_empty());
        assert!(
            find(&w, &brand, q("0102")).await.items.is_empty(),
            "a rival's phone tail"
        );
        // Asking for another brand narrows, never widens.
        assert!(
            find(
                &w,
                &brand,
                SearchInput {
                    brand_id: Some(midea.0),
                    ..q("漏水")
                }
            )
            .await
            .items
            .is_empty()
        );

        // A dealer sees itself and its customers, also after the admin moves one to it.
        let dealer = w
            .customer(
                &admin,
                CustomerInput {
                    kind: "dealer".into(),
                    ..individual("漏水经销商", "13800000104")
                },
            )
            .await;
        let theirs = w
            .customer(
                &admin,
                CustomerInput {
                    dealer_id: Some(dealer.0),
                    ..individual("漏水四", "13800000105")
                },
            )
            .await;
        let d = w
            .user_linked("dealer.i", &["dealer_user"], None, Some(dealer))
            .await;
        let p = find(&w, &d, q("漏水")).await;
        let mut got = hits(&p);
        got.sort();
        assert_eq!(
            got,
            [
                ("customer".to_string(), dealer.0),
                ("customer".to_string(), theirs.0)
            ],
            "{which:?}"
        );
        let v = w.view(&admin, own).await;
        ledger::update_customer(
            &w.app,
            &admin,
            own,
            v.version,
            CustomerInput {
                dealer_id: Some(dealer.0),
                ..individual("漏水三", "13800000103")
            },
        )
        .await
        .unwrap();
        let p = find(&w, &d, q("漏水")).await;
        assert!(
            has(&p, "customer", own.0) && has(&p, "ticket", 12),
            "{which:?} {p:?}"
        );

        // Roles outside any customer slice see nothing; the agent sees everything.
        let all = find(&w, &admin, q("漏水")).await;
        assert_eq!(all.items.len(), 8, "{which:?} {all:?}");
        assert_eq!(
            code(
                &search::search(
                    &w.app,
                    &brand,
                    SearchInput {
                        kind: Some("nope".into()),
                        ..q("漏水")
                    }
                )
                .await
            ),
            "validation"
        );
    })
    .await;
}

/// `n` ticket documents from record id `first`, written in one go: `tokens` as their words,
/// `brand` and `status` as their facets.
async fn many_docs(
    w: &World,
    first: i64,
    n: i64,
    tokens: &str,
    brand: Option<BrandId>,
    status: &str,
) {
    let at = w.clock.now().0;
    let docs: Vec<store::search::DocRow> = (first..first + n)
        .map(|id| store::search::DocRow {
            kind: DocKind::Ticket,
            doc_id: id,
            brand_id: brand,
            customer_id: None,
            status: Some(status.into()),
            sub_kind: Some("repair".into()),
            updated_at: at + id,
            title: format!("工单 {id}"),
            body: tokens.replace(' ', ""),
            tokens: tokens.into(),
        })
        .collect();
    let backend = w.app.db.backend();
    w.app
        .db
        .write(move |c| Box::pin(async move { store::bulk::search_docs(c, backend, &docs).await }))
        .await
        .expect("index documents");
}

#[tokio::test]
async fn a_common_word_ranks_the_best_of_its_newest_matches() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let admin = w.user("admin.cap", &["admin"]).await;
        let aqua = w.brand("AQUA", "清泉净水").await;
        let cap = i64::from(store::search::CANDIDATES);
        // Oldest: 30 documents where the word is everything (they would rank first), owned by
        // AQUA and closed; then `cap` ordinary matches of the company's own; among those, 5
        // strong ones.
        many_docs(&w, 1, 30, "漏水 漏水 漏水 漏水 冰箱", Some(aqua), "closed").await;
        many_docs(&w, 1000, 400, "漏水 冰箱 上门 维修 师傅", None, "open").await;
        many_docs(&w, 1400, 5, "漏水 漏水 漏水 漏水 冰箱", None, "open").await;
        many_docs(
            &w,
            1405,
            cap - 405,
            "漏水 冰箱 上门 维修 师傅",
            None,
            "open",
        )
        .await;

        // The admin sees cap + 30 matches: the best ranked are the strong ones among the
        // newest `cap`; the 30 oldest are not ranked at all, and the page says so.
        let p = find(
            &w,
            &admin,
            SearchInput {
                limit: Some(5),
                ..q("漏水")
            },
        )
        .await;
        assert!(p.capped, "{which:?}: capped");
        let mut best: Vec<i64> = p.items.iter().map(|h| h.id).collect();
        best.sort_unstable();
        assert_eq!(best, [1400, 1401, 1402, 1403, 1404], "{which:?}");
        assert!(
            p.items[0]
                .snippet
                .iter()
                .any(|s| s.hit && s.text.contains("漏水")),
            "{which:?}: highlight"
        );
        let mut seen = std::collections::BTreeSet::new();
        let mut input = SearchInput {
            limit: Some(200),
            ..q("漏水")
        };
        loop {
            let p = find(&w, &admin, input.clone()).await;
            seen.extend(p.items.iter().map(|h| h.id));
            match p.next {
                Some(c) => input.cursor = Some(c),
                None => break,
            }
        }
        assert!(
            seen.iter().all(|id| *id >= 1000),
            "{which:?}: an old match was ranked"
        );

        // Filters and scopes apply before the cap: the closed documents and AQUA's are among
        // the oldest, yet found, and no cap is reported for so few.
        let p = find(
            &w,
            &admin,
            SearchInput {
                status: Some("closed".into()),
                limit: Some(50),
                ..q("漏水")
            },
        )
        .await;
        assert!(!p.capped, "{which:?}");
        assert_eq!(p.items.len(), 30, "{which:?}");
        assert!(
            p.items
                .iter()
                .all(|h| h.id < 1000 && h.status.as_deref() == Some("closed"))
        );
        let brand = w
            .user_linked("aqua.cap", &["brand_user"], Some(aqua), None)
            .await;
        let p = find(
            &w,
            &brand,
            SearchInput {
                limit: Some(50),
                ..q("漏水")
            },
        )
        .await;
        assert!(!p.capped, "{which:?}");
        assert_eq!(
            p.items.len(),
            30,
            "{which:?}: the brand sees its own old documents"
        );
        assert!(
            p.items.iter().all(|h| h.brand_id == Some(aqua.0)),
            "{which:?}"
        );

        // Fewer matches than the cap are all ranked, and no cap is reported.
        let p = find(&w, &admin, q("师傅")).await;
        assert!(!p.capped, "{which:?}: 师傅 is in {} documents", cap - 5);
        let p = find(&w, &admin, q("冰箱漏水")).await;
        assert!(p.capped, "{which:?}");
        many_docs(&w, 9000, 3, "空调 异响", None, "open").await;
        let p = find(&w, &admin, q("异响")).await;
        assert!(!p.capped, "{which:?}");
        assert_eq!(p.items.len(), 3, "{which:?}");
    })
    .await;
}
