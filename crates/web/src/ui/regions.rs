//! Cascading region selects (province → city → district → street). The page renders every level
//! with the options of the chosen parent, so a form shown again keeps its choices; changing a
//! level asks `/regions/options` (htmx) for the next level's options and empties the deeper ones.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use domain::address::Regions;

use super::chrome::{Chrome, PageCtx};
use crate::AppState;

#[derive(Debug, Clone)]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Debug, Clone)]
pub struct Level {
    /// The form field's name.
    pub name: String,
    pub id: String,
    pub label: String,
    pub options: Vec<Opt>,
    /// What changing this select asks for (`hx-get`, `hx-target`, `hx-vals`); None on the last.
    pub next: Option<(String, String)>,
}

/// One set of cascading selects.
#[derive(Debug, Clone)]
pub struct Picker {
    pub levels: Vec<Level>,
    pub blank: String,
}

const LEVEL_KEYS: [&str; 4] = [
    "fields.province",
    "fields.city",
    "fields.district",
    "fields.street",
];

impl Picker {
    /// `names` are the form fields, top level first (2 to 4 of them); `chosen` their values.
    pub fn new(
        c: &Chrome,
        regions: &Regions,
        prefix: &str,
        names: &[&str],
        chosen: &[&str],
        blank_key: &str,
    ) -> Self {
        let blank = c.t(blank_key);
        let ids: Vec<String> = (0..names.len())
            .map(|i| format!("{prefix}-{}", i + 1))
            .collect();
        let mut levels = Vec::new();
        let mut parent: Option<String> = None;
        for (i, name) in names.iter().enumerate() {
            let want = chosen.get(i).copied().unwrap_or("");
            let options: Vec<Opt> = if i == 0 || parent.is_some() {
                regions
                    .children(parent.as_deref())
                    .into_iter()
                    .map(|r| Opt {
                        selected: r.code.0 == want,
                        value: r.code.0.clone(),
                        label: r.name.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            parent = options.iter().find(|o| o.selected).map(|o| o.value.clone());
            let next = ids.get(i + 1).map(|next_id| {
                let vals = serde_json::json!({
                    "of": name,
                    "reset": ids[i + 2..].join(","),
                    "blank": blank_key,
                });
                (next_id.clone(), vals.to_string())
            });
            levels.push(Level {
                name: (*name).to_string(),
                id: ids[i].clone(),
                label: c.t(LEVEL_KEYS[i.min(3)]),
                options,
                next,
            });
        }
        Self { levels, blank }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "_region_options.html")]
pub struct OptionsPartial {
    pub blank: String,
    pub options: Vec<Opt>,
    pub resets: Vec<String>,
}

/// The options under the region chosen in the field named by `of`, plus empty deeper selects.
pub async fn options(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<HashMap<String, String>>,
) -> OptionsPartial {
    let of = q.get("of").map_or("", String::as_str);
    let parent = q.get(of).map_or("", |v| v.trim());
    let blank_key = q
        .get("blank")
        .filter(|k| matches!(k.as_str(), "common.choose" | "common.all"))
        .map_or("common.choose", String::as_str);
    let options = if parent.is_empty() || s.app.regions.get(parent).is_none() {
        Vec::new()
    } else {
        s.app
            .regions
            .children(Some(parent))
            .into_iter()
            .map(|r| Opt {
                value: r.code.0.clone(),
                label: r.name.clone(),
                selected: false,
            })
            .collect()
    };
    let resets = q
        .get("reset")
        .map(|r| {
            r.split(',')
                .filter(|id| {
                    !id.is_empty()
                        && id
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    OptionsPartial {
        blank: pc.c.t(blank_key),
        options,
        resets,
    }
}
