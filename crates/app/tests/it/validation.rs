//! Bad input gets a clear error naming the field, and changes nothing.

use app::ledger::{self, AddressInput, ContactInput, CustomerInput, DeviceInput, NoteInput};
use testkit::each_backend;

use crate::{World, code, contact, fields, individual, xihu};

fn with_address(a: AddressInput) -> CustomerInput {
    CustomerInput {
        address: Some(a),
        ..individual("赵六", "13800000006")
    }
}

/// Each bad customer and the one field its error must name.
fn bad_customers() -> Vec<(&'static str, CustomerInput, &'static str)> {
    vec![
        ("short phone", individual("赵六", "12345"), "phone"),
        (
            "letters in phone",
            individual("赵六", "138-abcd-5678"),
            "phone",
        ),
        (
            "not a mobile prefix",
            individual("赵六", "23812345678"),
            "phone",
        ),
        ("empty name", individual("   ", "13800000006"), "name"),
        (
            "100k-character name",
            individual(&"张".repeat(100_000), "13800000006"),
            "name",
        ),
        (
            "NUL in name",
            individual("赵\u{0}六", "13800000006"),
            "name",
        ),
        (
            "escape in name",
            individual("赵\u{1b}[31m六", "13800000006"),
            "name",
        ),
        (
            "bell in remark",
            CustomerInput {
                remark: Some("叮\u{7}".into()),
                ..individual("赵六", "13800000006")
            },
            "remark",
        ),
        (
            "unknown kind",
            CustomerInput {
                kind: "vip".into(),
                ..individual("赵六", "13800000006")
            },
            "kind",
        ),
        (
            "bad email",
            CustomerInput {
                email: Some("zhao at example.cn".into()),
                ..individual("赵六", "13800000006")
            },
            "email",
        ),
        (
            "unknown province",
            with_address(AddressInput {
                province_code: "990000".into(),
                ..xihu("文三路 90 号")
            }),
            "address.address",
        ),
        (
            "unknown city",
            with_address(AddressInput {
                city_code: "339900".into(),
                ..xihu("文三路 90 号")
            }),
            "address.address",
        ),
        (
            "district of another city",
            with_address(AddressInput {
                district_code: Some("310104".into()),
                street_code: None,
                ..xihu("文三路 90 号")
            }),
            "address.address",
        ),
        (
            "street of another district",
            with_address(AddressInput {
                street_code: Some("330102001".into()),
                ..xihu("文三路 90 号")
            }),
            "address.address",
        ),
        (
            "a province given as the city",
            with_address(AddressInput {
                city_code: "330000".into(),
                ..xihu("文三路 90 号")
            }),
            "address.address",
        ),
        (
            "no street detail",
            with_address(xihu("  ")),
            "address.address",
        ),
        (
            "longitude without latitude",
            with_address(AddressInput {
                lng: Some(120.1),
                ..xihu("文三路 90 号")
            }),
            "address.lng",
        ),
        (
            "coordinates outside China",
            with_address(AddressInput {
                lng: Some(-0.12),
                lat: Some(51.5),
                ..xihu("文三路 90 号")
            }),
            "address.address",
        ),
        (
            "bad contact phone",
            CustomerInput {
                contacts: vec![contact("家人", "110")],
                ..individual("赵六", "13800000006")
            },
            "contacts[0].phone",
        ),
        (
            "nameless second contact",
            CustomerInput {
                contacts: vec![
                    contact("家人", "13900000001"),
                    ContactInput {
                        name: String::new(),
                        ..ContactInput::default()
                    },
                ],
                ..individual("赵六", "13800000006")
            },
            "contacts[1].name",
        ),
        (
            "too many contacts",
            CustomerInput {
                contacts: (0..21)
                    .map(|i| contact(&format!("联系人{i}"), &format!("139{i:08}")))
                    .collect(),
                ..individual("赵六", "13800000006")
            },
            "contacts",
        ),
    ]
}

#[tokio::test]
async fn a_bad_customer_is_refused_naming_the_field_and_nothing_is_created() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.val", &["agent"]).await;
        let audit_before = w.audit("customer", None).await.len();
        for (what, input, field) in bad_customers() {
            let r = ledger::create_customer(&w.app, &agent, input).await;
            assert_eq!(code(&r), "validation", "{which:?}: {what}");
            assert_eq!(fields(&r), [field], "{which:?}: {what}");
        }
        assert_eq!(w.count_customers().await, 0, "{which:?}");
        assert_eq!(w.audit("customer", None).await.len(), audit_before);
        assert!(
            ledger::find_by_phone(&w.app, &agent, "13800000006")
                .await
                .unwrap()
                .is_empty()
        );

        // Every problem is reported at once.
        let r = ledger::create_customer(
            &w.app,
            &agent,
            CustomerInput {
                kind: "vip".into(),
                email: Some("nope".into()),
                address: Some(AddressInput {
                    province_code: "990000".into(),
                    ..xihu("x")
                }),
                ..individual("", "12345")
            },
        )
        .await;
        assert_eq!(
            fields(&r),
            ["address.address", "email", "kind", "name", "phone"]
        );
        match r {
            Err(app::Error::Validation { message, .. }) => {
                assert!(message.contains("phone:"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(w.count_customers().await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_bad_device_note_or_address_changes_nothing() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.dev", &["agent"]).await;
        let id = w.customer(&agent, individual("周十", "13800000010")).await;
        let good = DeviceInput {
            category: "空调".into(),
            model: "KFR-35GW".into(),
            ..DeviceInput::default()
        };
        let cases: Vec<(&str, DeviceInput, &[&str])> = vec![
            (
                "impossible date",
                DeviceInput {
                    purchase_date: Some("2026-02-30".into()),
                    ..good.clone()
                },
                &["purchase_date"],
            ),
            (
                "words for a date",
                DeviceInput {
                    install_date: Some("yesterday".into()),
                    ..good.clone()
                },
                &["install_date"],
            ),
            (
                "day-first date",
                DeviceInput {
                    warranty_end: Some("28/02/2027".into()),
                    ..good.clone()
                },
                &["warranty_end"],
            ),
            (
                "warranty ends before purchase",
                DeviceInput {
                    purchase_date: Some("2026-03-01".into()),
                    warranty_end: Some("2026-02-28".into()),
                    ..good.clone()
                },
                &["warranty_end"],
            ),
            (
                "bought before it was made",
                DeviceInput {
                    production_date: Some("2026-03-01".into()),
                    purchase_date: Some("2026-01-01".into()),
                    ..good.clone()
                },
                &["purchase_date"],
            ),
            (
                "unknown channel",
                DeviceInput {
                    purchase_channel: Some("ebay".into()),
                    ..good.clone()
                },
                &["purchase_channel"],
            ),
            (
                "no model, no category",
                DeviceInput {
                    category: " ".into(),
                    model: String::new(),
                    ..good.clone()
                },
                &["category", "model"],
            ),
            (
                "control character in the serial",
                DeviceInput {
                    serial: Some("SN\u{8}1".into()),
                    ..good.clone()
                },
                &["serial"],
            ),
        ];
        for (what, input, want) in cases {
            let r = ledger::add_device(&w.app, &agent, id, input).await;
            assert_eq!(code(&r), "validation", "{which:?}: {what}");
            assert_eq!(fields(&r), want, "{which:?}: {what}");
        }

        let notes: Vec<(&str, NoteInput, &str)> = vec![
            (
                "unknown category",
                NoteInput {
                    category: "gossip".into(),
                    body: "客户问价格".into(),
                    device_id: None,
                },
                "category",
            ),
            (
                "empty body",
                NoteInput {
                    category: "price".into(),
                    body: " \n ".into(),
                    device_id: None,
                },
                "body",
            ),
            (
                "body too long",
                NoteInput {
                    category: "price".into(),
                    body: "长".repeat(4001),
                    device_id: None,
                },
                "body",
            ),
            (
                "a device that does not exist",
                NoteInput {
                    category: "price".into(),
                    body: "客户问价格".into(),
                    device_id: Some(987_654),
                },
                "device_id",
            ),
        ];
        for (what, input, field) in notes {
            let r = ledger::add_note(&w.app, &agent, id, input).await;
            assert_eq!(code(&r), "validation", "{which:?}: {what}");
            assert_eq!(fields(&r), [field], "{which:?}: {what}");
        }

        let bad_address = ledger::add_address(
            &w.app,
            &agent,
            id,
            AddressInput {
                district_code: Some("110105".into()),
                street_code: None,
                ..xihu("朝阳门")
            },
        )
        .await;
        assert_eq!(fields(&bad_address), ["address"]);
        let bad_contact = ledger::add_contact(&w.app, &agent, id, contact("邻居", "phone")).await;
        assert_eq!(fields(&bad_contact), ["phone"]);

        let o = ledger::overview(&w.app, &agent, id).await.unwrap();
        assert!(o.devices.is_empty(), "{which:?}");
        assert!(o.addresses.is_empty());
        assert!(o.contacts.is_empty());
        assert_eq!(o.customer.region, "");
        assert_eq!(o.timeline.len(), 1, "only 'created': {:?}", o.timeline);
        assert_eq!(o.customer.version, 1);
    })
    .await;
}
