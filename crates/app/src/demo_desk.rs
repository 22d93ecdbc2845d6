//! The service desk part of the demo: a handful of tickets at every stage of the workflow, made
//! through the same use cases the desk uses (so their history, timelines, SLA clocks, search
//! documents and notifications are real), acting as the demo's own people.

use domain::Timestamp;
use serde::Serialize;
use store::users;

use crate::auth::Principal;
use crate::ledger::{self, CustomerFilter};
use crate::tickets::{self, ActionInput, CompensationInput, TicketInput};
use crate::{App, Ctx, Error, Result};

const HOUR: i64 = 3_600_000;

/// What the desk demo made: (number, status, subject) of each ticket.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeskReport {
    pub tickets: Vec<(String, String, String)>,
}

pub(crate) async fn as_user(app: &App, ctx: &Ctx, login: &'static str) -> Result<Ctx> {
    let user = app
        .db
        .read(move |c| Box::pin(async move { users::by_login(c, login).await }))
        .await?
        .map(|(u, _)| u)
        .ok_or_else(|| Error::Conflict(format!("demo user {login} is missing")))?;
    let p = Principal::of_user(user, None).map_err(|_| Error::Forbidden)?;
    Ok(p.ctx(ctx.clock.clone(), "demo".into(), "zh-CN".into()))
}

/// The demo's 质量部 and 物流部, as `ctx` finds them among the desk's departments.
pub(crate) async fn quality_and_logistics(app: &App, ctx: &Ctx) -> Result<(i64, i64)> {
    let departments = crate::desk_pickers::departments(app, ctx).await?;
    let dept = |name: &str| {
        departments
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.id)
            .ok_or_else(|| Error::Conflict(format!("demo department {name} is missing")))
    };
    Ok((dept("质量部")?, dept("物流部")?))
}

async fn act(app: &App, ctx: &Ctx, id: i64, a: ActionInput) -> Result<()> {
    let id = domain::TicketId(id);
    let v = tickets::get(app, ctx, id).await?.summary.version;
    tickets::act(app, ctx, id, v, a).await.map(|_| ())
}

fn at(ctx: &Ctx, hours: i64) -> String {
    Timestamp(ctx.now().0 + hours * HOUR).rfc3339_in(domain::time::DEFAULT_TZ)
}

/// Builds the desk's tickets on a demo ledger (after `demo::build`).
pub async fn build(app: &App, ctx: &Ctx) -> Result<DeskReport> {
    let agent = as_user(app, ctx, "agent").await?;
    let quality = as_user(app, ctx, "quality").await?;
    let owner = as_user(app, ctx, "owner").await?;
    let dealer = as_user(app, ctx, "dealer").await?;
    let remote = as_user(app, ctx, "remote").await?;
    let (qa, logistics) = quality_and_logistics(app, &agent).await?;
    // Customers the desk serves: individuals with a phone, and the dealer's own customers.
    let people = ledger::list_customers(
        app,
        &agent,
        CustomerFilter {
            kind: Some("individual".into()),
            limit: Some(20),
            ..CustomerFilter::default()
        },
    )
    .await?
    .items;
    let mine = ledger::list_customers(
        app,
        &dealer,
        CustomerFilter {
            kind: Some("individual".into()),
            limit: Some(5),
            ..CustomerFilter::default()
        },
    )
    .await?
    .items;
    let pick = |i: usize| people.get(i % people.len().max(1)).map(|c| c.id);
    let mut report = DeskReport::default();
    let new = |kind: &str, subject: &str, customer: Option<i64>| TicketInput {
        kind: kind.into(),
        subject: subject.into(),
        customer_id: customer,
        force_new: true,
        ..TicketInput::default()
    };

    // 1. A dealer's complaint for its customer: routed to quality, a plan in two parts signed
    //    with a committed time, back with the account owner, who told the dealer.
    let c1 = tickets::create(
        app,
        &dealer,
        TicketInput {
            complaint_category: Some("product_quality".into()),
            description: "安装后发现两扇柜门颜色不一致，客户要求重做。".into(),
            // Its second customer: the first stays free of open tickets for a new call.
            ..new(
                "complaint",
                "衣柜门板色差，客户要求重做",
                mine.get(1).or(mine.first()).map(|c| c.id),
            )
        },
    )
    .await?;
    act(
        app,
        &owner,
        c1.id,
        ActionInput::Route {
            department_id: qa,
            note: Some("请质量部判定责任并给出方案".into()),
        },
    )
    .await?;
    act(app, &quality, c1.id, ActionInput::Accept).await?;
    act(
        app,
        &quality,
        c1.id,
        ActionInput::SetComplaint {
            category: None,
            liability: Some("product_defect".into()),
            remedy: Some("remake".into()),
            cost_shares: Vec::new(),
        },
    )
    .await?;
    act(
        app,
        &quality,
        c1.id,
        ActionInput::AddPlanPart {
            department_id: qa,
            summary: "门板重新生产".into(),
            remedy: Some("remake".into()),
            committed_at: at(ctx, 72),
        },
    )
    .await?;
    act(app, &quality, c1.id, ActionInput::SignPlan).await?;
    act(
        app,
        &quality,
        c1.id,
        ActionInput::ReturnPlan {
            note: Some("3 天内重做，5 天内送达".into()),
        },
    )
    .await?;
    act(
        app,
        &owner,
        c1.id,
        ActionInput::InformRequester {
            contact_note: "电话告知经销商重做方案和时间，经销商情绪已安抚".into(),
            message: Some("门板将重新生产，3 天内完成并尽快送达安装。".into()),
        },
    )
    .await?;
    report.tickets.push((
        c1.number.clone(),
        "in_progress".into(),
        "衣柜门板色差（方案已告知）".into(),
    ));

    // 1b. Another complaint whose plan needs two departments: quality remakes, logistics
    //     delivers; logistics has yet to sign its part.
    let c1b = tickets::create(
        app,
        &agent,
        TicketInput {
            complaint_category: Some("product".into()),
            ..new("complaint", "橱柜台面开裂", pick(6))
        },
    )
    .await?;
    act(
        app,
        &agent,
        c1b.id,
        ActionInput::Route {
            department_id: qa,
            note: None,
        },
    )
    .await?;
    act(app, &quality, c1b.id, ActionInput::Accept).await?;
    act(
        app,
        &quality,
        c1b.id,
        ActionInput::AddPlanPart {
            department_id: qa,
            summary: "台面重做".into(),
            remedy: Some("remake".into()),
            committed_at: at(ctx, 96),
        },
    )
    .await?;
    act(
        app,
        &quality,
        c1b.id,
        ActionInput::AddPlanPart {
            department_id: logistics,
            summary: "新台面送货上门".into(),
            remedy: None,
            committed_at: at(ctx, 144),
        },
    )
    .await?;
    report.tickets.push((
        c1b.number,
        "accepted".into(),
        "橱柜台面开裂（物流部待签）".into(),
    ));

    // 2. Remote support could not fix it: the repair request carries the pre-diagnosis and the
    //    parts list to field service.
    let c2 = tickets::create(
        app,
        &remote,
        TicketInput {
            description: "出水量明显变小，滤芯已用一年。".into(),
            ..new("repair_request", "净水器出水慢", pick(0))
        },
    )
    .await?;
    act(
        app,
        &remote,
        c2.id,
        ActionInput::ConvertForField {
            pre_diagnosis: "RO 膜堵塞，需更换".into(),
            parts: vec!["RO 膜 500G".into(), "PP 棉滤芯".into()],
        },
    )
    .await?;
    report
        .tickets
        .push((c2.number, "open".into(), "净水器出水慢（转上门）".into()));

    // 3. Solved remotely and waiting for the customer's confirmation.
    let c3 = tickets::create(
        app,
        &remote,
        new("repair_request", "热水器显示 E1 故障码", pick(1)),
    )
    .await?;
    act(
        app,
        &remote,
        c3.id,
        ActionInput::SolvedRemotely {
            summary: "电话指导客户重新上电并清洗进水阀滤网，已恢复。".into(),
        },
    )
    .await?;
    report
        .tickets
        .push((c3.number, "resolved".into(), "热水器 E1 远程解决".into()));

    // 4. An unanswered consultation: its first-reply clock is running.
    let c4 = tickets::create(
        app,
        &agent,
        new("consultation", "咨询延保服务价格", pick(2)),
    )
    .await?;
    report
        .tickets
        .push((c4.number, "open".into(), "咨询延保".into()));

    // 5. A customer who kept calling: urged three times, escalated.
    let c5 = tickets::create(
        app,
        &agent,
        new("installation_request", "新买空调一周还没安装", pick(3)),
    )
    .await?;
    for _ in 0..3 {
        act(
            app,
            &agent,
            c5.id,
            ActionInput::Urge {
                note: Some("客户来电催促".into()),
            },
        )
        .await?;
    }
    report
        .tickets
        .push((c5.number, "open".into(), "空调未安装（催单 3 次）".into()));

    // 6. A complaint about delivery with a compensation proposed, waiting in quality's queue.
    let c6 = tickets::create(
        app,
        &agent,
        TicketInput {
            complaint_category: Some("shipping".into()),
            ..new("complaint", "配送延误三天，要求补偿", pick(4))
        },
    )
    .await?;
    tickets::add_compensation(
        app,
        &agent,
        domain::TicketId(c6.id),
        CompensationInput {
            amount_fen: 10_000,
            payer: "company".into(),
            reason: "配送延误补偿".into(),
        },
    )
    .await?;
    act(
        app,
        &agent,
        c6.id,
        ActionInput::Route {
            department_id: qa,
            note: None,
        },
    )
    .await?;
    report.tickets.push((
        c6.number,
        "routed".into(),
        "配送延误（待质量部接单）".into(),
    ));

    // 7. A suggestion answered and closed.
    let c7 = tickets::create(
        app,
        &agent,
        new("suggestion", "建议增加微信预约上门", pick(5)),
    )
    .await?;
    act(
        app,
        &agent,
        c7.id,
        ActionInput::Resolve {
            summary: "感谢建议，已转产品部门评估。".into(),
        },
    )
    .await?;
    act(
        app,
        &agent,
        c7.id,
        ActionInput::Confirm {
            note: Some("客户电话确认".into()),
        },
    )
    .await?;
    act(app, &agent, c7.id, ActionInput::Close).await?;
    report
        .tickets
        .push((c7.number, "closed".into(), "微信预约建议".into()));
    Ok(report)
}
