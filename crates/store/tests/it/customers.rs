use std::collections::BTreeSet;

use domain::customer::{CustomerDraft, CustomerKind};
use domain::{BrandId, Phone, Scope, Timestamp};
use store::customers::{self, CustomerQuery};
use store::{Error, org};
use testkit::each_backend;

fn draft(name: &str, phone: &str) -> CustomerDraft {
    CustomerDraft {
        kind: CustomerKind::Individual,
        name: name.into(),
        phone: Some(Phone::parse(phone).unwrap()),
        email: None,
        dealer_id: None,
        owner_user_id: None,
        remark: None,
    }
}

#[tokio::test]
async fn brand_scope_sees_only_linked_customers_and_versions_guard_updates() {
    each_backend(|db, which| async move {
        let (a, b, brand) = db
            .write(|c| {
                Box::pin(async move {
                    let brand = org::insert_brand(
                        c,
                        "aqua",
                        "沁园",
                        domain::account::BrandTier::Standard,
                        Timestamp(1),
                    )
                    .await?;
                    let a = customers::insert(c, &draft("李四", "13800000001"), None, Timestamp(1))
                        .await?;
                    let b = customers::insert(c, &draft("王五", "13800000002"), None, Timestamp(2))
                        .await?;
                    customers::link_brand(c, a, brand, Timestamp(3)).await?;
                    Ok::<_, Error>((a, b, brand))
                })
            })
            .await
            .unwrap();
        let scope = Scope::Brands(BTreeSet::from([brand]));
        let other = Scope::Brands(BTreeSet::from([BrandId(brand.0 + 100)]));
        let (seen, hidden, none) = db
            .read(|c| {
                Box::pin(async move {
                    let seen = customers::get(c, &scope, a).await?;
                    let hidden = customers::get(c, &scope, b).await;
                    let none = customers::list(
                        c,
                        &other,
                        &CustomerQuery {
                            limit: 50,
                            ..CustomerQuery::default()
                        },
                    )
                    .await?;
                    Ok::<_, Error>((seen, hidden, none))
                })
            })
            .await
            .unwrap();
        assert_eq!(seen.name, "李四", "{which:?}");
        assert!(matches!(hidden, Err(Error::NotFound)), "{which:?}");
        assert!(none.items.is_empty(), "{which:?}");

        let stale = db
            .write(move |c| {
                Box::pin(async move {
                    customers::update(c, a, 7, &draft("李四", "13800000001"), Timestamp(9)).await
                })
            })
            .await;
        assert!(matches!(stale, Err(Error::VersionConflict)), "{which:?}");
        let v = db
            .write(move |c| {
                Box::pin(async move {
                    customers::update(c, a, 1, &draft("李思", "13800000009"), Timestamp(9)).await
                })
            })
            .await
            .unwrap();
        assert_eq!(v, 2);
        let found = db
            .read(|c| {
                Box::pin(async move {
                    customers::find_by_phone(c, &Scope::All, &Phone::parse("13800000009").unwrap())
                        .await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            found.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["李思"],
            "{which:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn list_pages_by_cursor_and_searches_name_prefix_and_phone() {
    each_backend(|db, which| async move {
        db.write(|c| {
            Box::pin(async move {
                for i in 0..25 {
                    customers::insert(
                        c,
                        &draft(&format!("张{i:02}"), &format!("1360000{i:04}")),
                        None,
                        Timestamp(i),
                    )
                    .await?;
                }
                customers::insert(c, &draft("Zhang Wei", "13700000000"), None, Timestamp(99))
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await
        .unwrap();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let q = CustomerQuery {
                q: Some("张".into()),
                after: after.clone(),
                limit: 10,
                ..CustomerQuery::default()
            };
            let page = db
                .read(move |c| Box::pin(async move { customers::list(c, &Scope::All, &q).await }))
                .await
                .unwrap();
            seen.extend(page.items.iter().map(|c| c.name.clone()));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25, "{which:?}: {seen:?}");
        assert_eq!(seen[0], "张00", "a name search lists by name");
        let q = CustomerQuery {
            q: Some("zhangw".into()),
            limit: 10,
            ..CustomerQuery::default()
        };
        let latin = db
            .read(move |c| Box::pin(async move { customers::list(c, &Scope::All, &q).await }))
            .await
            .unwrap();
        assert_eq!(latin.items.len(), 1, "{which:?}");
        let q = CustomerQuery {
            q: Some("136 0000 001".into()),
            limit: 50,
            ..CustomerQuery::default()
        };
        let by_phone = db
            .read(move |c| Box::pin(async move { customers::list(c, &Scope::All, &q).await }))
            .await
            .unwrap();
        assert_eq!(by_phone.items.len(), 10, "{which:?}: 13600000010..19");
    })
    .await;
}
