//! Background work across processes (I1: several nodes share one PostgreSQL database and nothing
//! runs twice): a `kefu serve` and a `kefu worker` deliver 300 outbox webhooks between them, each
//! exactly once. And `kefu worker` refuses the embedded SQLite database.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use domain::Timestamp;
use serde_json::json;
use store::outbox::{self, Channel, NewMessage, OutboxStatus};
use store::{Db, OpenOptions, jobs};

const KEFU: &str = env!("CARGO_BIN_EXE_kefu");
const SECRET: &str = "whsec-worker-test";
const MESSAGES: usize = 300;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child kefu that is stopped (SIGTERM, then SIGKILL) however the test ends.
struct Proc {
    child: Child,
    name: &'static str,
}

impl Proc {
    fn start(name: &'static str, args: &[&str], url: &str, log: &Path) -> Self {
        let child = Command::new(KEFU)
            .args(args)
            .args(["--database", url, "--log-format", "text"])
            .env("KEFU_WEBHOOK_SECRET", SECRET)
            .env("KEFU_LOG", "info,sqlx=warn")
            .env("KEFU_DATA_DIR", log.parent().unwrap())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Self { child, name }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, and the exit status once it has shut down gracefully.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{} did not stop on SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_for_log(log: &Path, needle: &str, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_mins(1) {
        if std::fs::read_to_string(log).is_ok_and(|s| s.contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{what}: no {needle:?} in its log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[derive(Default)]
struct Received {
    hits: HashMap<String, usize>,
    bad: usize,
}

type Shared = Arc<Mutex<Received>>;

/// Answers after a short pause, so that deliveries overlap and both processes take part.
async fn receive(State(state): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    tokio::time::sleep(Duration::from_millis(30)).await;
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let expected = app::notify::webhook_signature(SECRET, &h("x-kefu-timestamp"), body.as_bytes());
    let mut r = state.lock().unwrap();
    if h("x-kefu-signature") != expected {
        r.bad += 1;
        return StatusCode::UNAUTHORIZED;
    }
    *r.hits.entry(h("x-kefu-delivery")).or_default() += 1;
    StatusCode::OK
}

async fn receiver() -> (SocketAddr, Shared) {
    let state = Shared::default();
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, state)
}

fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

fn now() -> Timestamp {
    Timestamp(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_and_a_worker_deliver_every_message_exactly_once() {
    let Some((url, guard)) = testkit::empty_postgres().await else {
        eprintln!(
            "skipped: needs PostgreSQL (KEFU_TEST_DATABASE_URL is none, or no server answers)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let init = Command::new(KEFU)
        .args(["init", "--database", &url])
        .env("KEFU_ADMIN_PASSWORD", "secret-pass-1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let (addr, received) = receiver().await;

    let port = free_port();
    let (serve_log, worker_log) = (tmp.path().join("serve.log"), tmp.path().join("worker.log"));
    let listen = format!("127.0.0.1:{port}");
    let mut serve = Proc::start("serve", &["serve", "--listen", &listen], &url, &serve_log);
    let mut worker = Proc::start("worker", &["worker"], &url, &worker_log);
    let start = Instant::now();
    while !ready(port) {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "serve did not become ready:\n{}",
            std::fs::read_to_string(&serve_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_log(&serve_log, "job runner started", "serve");
    wait_for_log(&worker_log, "job runner started", "worker");
    // Both runners are LISTENing once they have started; give the listeners a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let db = Db::open(&OpenOptions::new(url.clone())).await.unwrap();
    let hook = format!("http://{addr}/hook");
    for chunk in 0..10 {
        let hook = hook.clone();
        db.write(move |c| {
            Box::pin(async move {
                for i in 0..MESSAGES / 10 {
                    let m = NewMessage {
                        channel: Channel::Webhook,
                        recipient: hook.clone(),
                        template: "work_order.scheduled".into(),
                        payload: json!({"n": chunk * 30 + i}),
                        ref_entity: None,
                        ref_id: None,
                        brand_id: None,
                    };
                    outbox::insert(c, &m, now()).await?;
                }
                Ok::<_, store::Error>(())
            })
        })
        .await
        .unwrap();
    }

    let start = Instant::now();
    loop {
        let sent = db
            .read(|c| {
                Box::pin(async move {
                    outbox::list(
                        c,
                        &domain::Scope::All,
                        &outbox::OutboxQuery {
                            status: Some(OutboxStatus::Sent),
                            limit: 200,
                            ..outbox::OutboxQuery::default()
                        },
                    )
                    .await
                })
            })
            .await
            .unwrap();
        let pending = db
            .read(|c| Box::pin(async move { jobs::of_kind(c, outbox::DELIVER_KIND, 1000).await }))
            .await
            .unwrap()
            .iter()
            .filter(|j| j.state != jobs::JobState::Done)
            .count();
        if pending == 0 && !sent.items.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{pending} deliveries still not done after 90 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let deliveries = db
        .read(|c| Box::pin(async move { jobs::of_kind(c, outbox::DELIVER_KIND, 1000).await }))
        .await
        .unwrap();
    assert_eq!(deliveries.len(), MESSAGES);
    let mut by_pid: HashMap<u32, usize> = HashMap::new();
    for j in &deliveries {
        assert_eq!(j.state, jobs::JobState::Done, "{j:?}");
        assert_eq!(j.attempts, 1, "a delivery ran twice: {j:?}");
        let owner = j.lease_owner.as_deref().unwrap();
        let pid: u32 = owner.split(':').nth(1).unwrap().parse().unwrap();
        *by_pid.entry(pid).or_default() += 1;
    }
    {
        let r = received.lock().unwrap();
        assert_eq!(r.bad, 0, "every request was signed");
        assert_eq!(r.hits.len(), MESSAGES, "every delivery id arrived");
        let twice: Vec<_> = r.hits.iter().filter(|(_, n)| **n != 1).collect();
        assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    }
    let (s, w) = (
        by_pid.get(&serve.pid()).copied().unwrap_or(0),
        by_pid.get(&worker.pid()).copied().unwrap_or(0),
    );
    eprintln!("deliveries by process: serve {s}, worker {w}");
    assert_eq!(
        s + w,
        MESSAGES,
        "only these two processes ran jobs: {by_pid:?}"
    );
    assert!(
        s > 0 && w > 0,
        "both processes took part: serve {s}, worker {w}"
    );

    // Graceful stops.
    assert!(serve.terminate().success(), "serve exit");
    assert!(worker.terminate().success(), "worker exit");
    wait_for_log(&worker_log, "job runner stopped", "worker");
    db.close().await;
    guard.drop_database().await;
}

#[test]
fn the_worker_refuses_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(KEFU)
        .args(["worker", "--data-dir"])
        .arg(tmp.path())
        .env_remove("KEFU_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kefu worker needs PostgreSQL") && err.contains("only one process may write"),
        "{err}"
    );
}
