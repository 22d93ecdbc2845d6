//! The binary as an operator uses it: init, serve, crash, backup and restore.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEFU: &str = env!("CARGO_BIN_EXE_kefu");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn kefu(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(KEFU)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("KEFU_ADMIN_PASSWORD", "secret-pass-1")
        .env_remove("KEFU_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let child = Command::new(KEFU)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "text",
            ])
            .arg("--data-dir")
            .arg(dir)
            .env("KEFU_LOG", "warn")
            .env_remove("KEFU_DATABASE_URL")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("127.0.0.1:{port}");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if http(&base, "GET", "/readyz", None, None).0 == 200 {
                return Self { child, base };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        panic!("kefu did not become ready");
    }

    fn kill(mut self) {
        // SIGKILL: no graceful shutdown, no chance to flush anything not already durable.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A minimal HTTP/1.1 client over a TCP stream, so the test needs nothing but std.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        let _ = write!(req, "Authorization: Bearer {t}\r\n");
    }
    if let Some(b) = body {
        let _ = write!(
            req,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        );
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn token(dir: &Path) -> String {
    let out = kefu(dir, &["token", "--login", "admin", "--name", "test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn acknowledged_writes_survive_a_kill_and_backup_restores_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let init = kefu(&dir, &["init"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let again = kefu(&dir, &["init"]);
    assert!(!again.status.success(), "a second init must refuse");
    let token = token(&dir);

    let server = Server::start(&dir);
    // While it runs, a second writer is refused.
    let locked = kefu(&dir, &["token", "--login", "admin"]);
    assert!(!locked.status.success());
    assert!(
        String::from_utf8_lossy(&locked.stderr).contains("locked"),
        "{}",
        String::from_utf8_lossy(&locked.stderr)
    );

    let mut acknowledged = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (base, token) = (server.base.clone(), token.clone());
                s.spawn(move || {
                    let mut ids = Vec::new();
                    for i in 0..25 {
                        let body = format!(r#"{{"kind":"individual","name":"客户{t}-{i}","phone":"1380{t}{i:06}"}}"#);
                        let (status, reply) = http(&base, "POST", "/api/v1/customers", Some(&token), Some(&body));
                        assert_eq!(status, 201, "{reply}");
                        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
                        ids.push(v["id"].as_i64().unwrap());
                    }
                    ids
                })
            })
            .collect();
        for h in handles {
            acknowledged.extend(h.join().unwrap());
        }
    });
    let backup = tmp.path().join("backup.tar");
    let out = kefu(&dir, &["backup", backup.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "backup while serving: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.kill();

    let server = Server::start(&dir);
    for id in &acknowledged {
        let (status, _) = http(
            &server.base,
            "GET",
            &format!("/api/v1/customers/{id}"),
            Some(&token),
            None,
        );
        assert_eq!(status, 200, "customer {id} was acknowledged but lost");
    }
    let restore_while_running = kefu(
        &tmp.path().join("data"),
        &["restore", backup.to_str().unwrap(), "--force"],
    );
    assert!(
        !restore_while_running.status.success(),
        "restore must refuse while kefu runs"
    );
    server.kill();

    let fresh = tmp.path().join("restored");
    let out = kefu(&fresh, &["restore", backup.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(&fresh);
    let (status, body) = http(
        &server.base,
        "GET",
        "/api/v1/customers?limit=200",
        Some(&token),
        None,
    );
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), acknowledged.len());
    let (status, body) = http(&server.base, "GET", "/api/v1/customers", None, None);
    assert_eq!(status, 401);
    assert!(body.contains("unauthenticated"));
    server.kill();
}

/// `scripts/demo --customers N` with more than 200 dealers (one per 50 customers): the desk's
/// story still finds its dealer and plays to the end (it once looked only at the first page of
/// the account owner's dealers and broke from 10,050 customers on).
#[test]
fn a_demo_with_more_than_a_page_of_dealers_plays_its_story() {
    let dir = testkit::TempDir::new().unwrap();
    let out = kefu(dir.path(), &["demo", "--customers", "10100", "--no-serve"]);
    // The summary goes to stderr, the story to stdout: both are what the user reads.
    let stdout = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.status.success(), "demo failed:\n{stdout}");
    assert!(stdout.contains("built 10100 customers"), "{stdout}");
    assert!(
        stdout.contains("自动生成回访投诉"),
        "the story did not reach its end:\n{stdout}"
    );
}
