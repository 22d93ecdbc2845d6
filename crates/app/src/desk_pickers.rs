//! The choices the service-desk forms offer: the people a ticket can be handed to, the
//! departments it can be sent to, and a ticket named by its number (受理单号) rather than its id.

use domain::account::OrgUnitKind;
use domain::{Permission, TicketId};
use serde::Serialize;
use store::{org, tickets, users};
use utoipa::ToSchema;

use crate::{App, Ctx, Error, Result};

/// A person or department a form lets the user pick.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Choice {
    pub id: i64,
    pub name: String,
    /// The department (for a person) or the function (for a department), to tell namesakes apart.
    pub detail: Option<String>,
}

/// Active users who may work on tickets (the reassign choice), by name.
pub async fn assignees(app: &App, ctx: &Ctx) -> Result<Vec<Choice>> {
    ctx.require(Permission::TicketWork)?;
    let (list, units) = app
        .db
        .read(|c| {
            Box::pin(async move {
                let list = users::list(c).await?;
                let units = org::units(c).await?;
                Ok::<_, store::Error>((list, units))
            })
        })
        .await?;
    let mut out: Vec<Choice> = list
        .into_iter()
        .filter(|u| {
            u.active
                && u.roles
                    .iter()
                    .any(|r| r.permissions().contains(&Permission::TicketWork))
        })
        .map(|u| Choice {
            id: u.id.0,
            detail: u
                .org_unit_id
                .and_then(|d| units.iter().find(|x| x.id == d))
                .map(|x| x.name.clone()),
            name: u.display_name,
        })
        .collect();
    out.sort_by(|a, b| a.detail.cmp(&b.detail).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// Active departments and branches: where a ticket can be routed or a plan part assigned.
pub async fn departments(app: &App, ctx: &Ctx) -> Result<Vec<Choice>> {
    ctx.require(Permission::TicketRead)?;
    let units = app
        .db
        .read(|c| Box::pin(async move { org::units(c).await }))
        .await?;
    Ok(units
        .into_iter()
        .filter(|u| u.active && matches!(u.kind, OrgUnitKind::Department | OrgUnitKind::Branch))
        .map(|u| Choice {
            id: u.id.0,
            name: u.name,
            detail: u.function.map(|f| f.as_str().to_string()),
        })
        .collect())
}

/// The ticket with this number (e.g. `KF20261130-000012`) among those the caller may see.
pub async fn ticket_by_number(app: &App, ctx: &Ctx, number: &str) -> Result<TicketId> {
    ctx.require(Permission::TicketRead)?;
    let number = number.trim().to_ascii_uppercase();
    if number.is_empty() {
        return Err(Error::field("target", "required"));
    }
    let scope = ctx.scope.clone();
    let t = app
        .db
        .read(move |c| Box::pin(async move { tickets::get_by_number(c, &scope, &number).await }))
        .await
        .map_err(|e| match e {
            store::Error::NotFound => Error::field("target", "unknown ticket"),
            e => e.into(),
        })?;
    Ok(t.id())
}
