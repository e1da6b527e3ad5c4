//! Starts the real `guardrail serve` binary on a loopback port with a temporary data
//! directory, for end-to-end tests over HTTP.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_guardrail");

pub struct Daemon {
    pub child: Option<Child>,
    pub url: String,
    pub dir: PathBuf,
    pub config: Option<PathBuf>,
    pub port: u16,
    log: PathBuf,
}

/// Polls `f` every 50 ms until it returns `Some`, and returns that. A condition still false at
/// the deadline fails the test naming `what`; the deadline is generous and nothing here asserts
/// how long the wait took.
pub fn wait_until<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let give_up = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= give_up {
            panic!("gave up waiting for {what} ({deadline:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Whether the tests' daemons run on PostgreSQL (`GUARDRAIL_TEST_STORE=postgres`, which
/// `scripts/test.sh` sets for its second pass over the end-to-end tests).
pub fn on_postgres() -> bool {
    match std::env::var("GUARDRAIL_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("GUARDRAIL_TEST_STORE={other}: expected sqlite or postgres"),
    }
}

/// The `--store` arguments for the store of `data_dir`: none on SQLite (the data directory's
/// file); on PostgreSQL a new database on the test cluster per data directory, remembered in
/// `<data dir>.store-url` so that offline commands and restarts find the same one.
pub fn store_args(data_dir: &Path) -> Vec<String> {
    if !on_postgres() {
        return Vec::new();
    }
    let marker = data_dir.with_extension("store-url");
    let url = match std::fs::read_to_string(&marker) {
        Ok(u) => u,
        Err(_) => {
            let u = guardrail::store::postgres::test_database().expect(
                "GUARDRAIL_TEST_STORE=postgres needs GUARDRAIL_TEST_POSTGRES (scripts/test.sh)",
            );
            std::fs::write(&marker, &u).unwrap();
            u
        }
    };
    vec!["--store".into(), url]
}

/// `psql URL ARGS -c SQL`, stopping at the first error; what it printed.
fn psql(url: &str, args: &[&str], sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .args(["-c", sql])
        .output()
        .expect("psql (Debian's postgresql-client) is needed on PostgreSQL");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Rows as `psql` prints them unaligned: fields split by 0x1F, rows by 0x1E, NULL as `\N`.
const PSQL_ROWS: &[&str] = &["-qAt", "-F", "\x1f", "-R", "\x1e", "-P", "null=\\N"];

/// The store's URL on PostgreSQL.
fn pg_url(data_dir: &Path) -> String {
    store_args(data_dir)[1].clone()
}

/// Runs one SQL statement on the store of `data_dir` behind guardrail's back (as an attacker
/// with database access would), and returns the number of rows it changed: with rusqlite on
/// the SQLite file, with `psql` on PostgreSQL.
pub fn edit_store(data_dir: &Path, sql: &str) -> usize {
    if !on_postgres() {
        let c = rusqlite::Connection::open(data_dir.join("guardrail.sqlite")).unwrap();
        return c.execute(sql, []).unwrap();
    }
    let said = psql(&pg_url(data_dir), &[], sql);
    // `UPDATE 1`, `DELETE 2`, ...
    said.split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("psql said {said}"))
}

/// Several SQL statements on the store of `data_dir`, in one go.
pub fn edit_store_batch(data_dir: &Path, sql: &str) {
    if on_postgres() {
        psql(&pg_url(data_dir), &[], sql);
    } else {
        let c = rusqlite::Connection::open(data_dir.join("guardrail.sqlite")).unwrap();
        c.execute_batch(sql).unwrap();
    }
}

/// The rows of a query on the store of `data_dir`, each column as text (`None`: NULL).
pub fn query_store(data_dir: &Path, sql: &str) -> Vec<Vec<Option<String>>> {
    if on_postgres() {
        let text = psql(&pg_url(data_dir), PSQL_ROWS, sql);
        return text
            .split('\u{1e}')
            .map(|r| r.trim_end_matches('\n'))
            .filter(|r| !r.is_empty())
            .map(|r| {
                r.split('\u{1f}')
                    .map(|f| (f != "\\N").then(|| f.to_string()))
                    .collect()
            })
            .collect();
    }
    let c = rusqlite::Connection::open(data_dir.join("guardrail.sqlite")).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => None,
                    rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                    rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        Some(String::from_utf8_lossy(t).into_owned())
                    }
                })
            })
            .collect()
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// A copy of the store of `data_dir` to put back with [`restore_store`] (the daemon stopped).
pub struct Snapshot {
    data_dir: PathBuf,
    copy: PathBuf,
}

pub fn snapshot_store(data_dir: &Path) -> Snapshot {
    if on_postgres() {
        let url = pg_url(data_dir);
        let (admin, db) = url.rsplit_once('/').unwrap();
        psql(
            &format!("{admin}/postgres"),
            &[],
            &format!("CREATE DATABASE {db}_copy TEMPLATE {db}"),
        );
        return Snapshot {
            data_dir: data_dir.to_path_buf(),
            copy: PathBuf::from(format!("{db}_copy")),
        };
    }
    let copy = data_dir.with_extension("sqlite-copy");
    std::fs::copy(data_dir.join("guardrail.sqlite"), &copy).unwrap();
    Snapshot {
        data_dir: data_dir.to_path_buf(),
        copy,
    }
}

pub fn restore_store(s: &Snapshot) {
    if on_postgres() {
        let url = pg_url(&s.data_dir);
        let (admin, db) = url.rsplit_once('/').unwrap();
        let copy = s.copy.display();
        let admin = format!("{admin}/postgres");
        psql(&admin, &[], &format!("DROP DATABASE {db}"));
        psql(
            &admin,
            &[],
            &format!("CREATE DATABASE {db} TEMPLATE {copy}"),
        );
        return;
    }
    std::fs::copy(&s.copy, s.data_dir.join("guardrail.sqlite")).unwrap();
    let _ = std::fs::remove_file(s.data_dir.join("guardrail.sqlite-wal"));
    let _ = std::fs::remove_file(s.data_dir.join("guardrail.sqlite-shm"));
}

/// Creates a token in the data dir (offline), on its store, and returns it.
pub fn token(dir: &Path, user: &str, roles: &str, groups: &str) -> String {
    let store = store_args(dir);
    let extra: Vec<&str> = store.iter().map(String::as_str).collect();
    token_with(dir, &extra, user, roles, groups)
}

/// [`token`] with other flags of `token create` (`--store URL`, `--key-file F`).
pub fn token_with(dir: &Path, extra: &[&str], user: &str, roles: &str, groups: &str) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["token", "create", "--user", user, "--roles", roles])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env_remove("GUARDRAIL_STORE");
    if !groups.is_empty() {
        cmd.args(["--groups", groups]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Daemon {
    /// Starts the daemon with `config` (None: embedded defaults) in `dir`.
    pub fn start(dir: &Path, config: Option<&Path>) -> Daemon {
        let port = free_port();
        let mut d = Daemon {
            child: None,
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_path_buf(),
            config: config.map(Path::to_path_buf),
            port,
            log: dir.join(format!("serve-{port}.log")),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .args(store_args(&self.dir.join("data")))
            .current_dir(&self.dir)
            .env_remove("GUARDRAIL_LISTEN")
            .env_remove("GUARDRAIL_DATA_DIR")
            .env_remove("GUARDRAIL_STORE")
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        self.child = Some(cmd.spawn().unwrap());
        self.wait_ready();
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn wait_ready(&mut self) {
        let client = reqwest::blocking::Client::new();
        let url = format!("{}/readyz", self.url);
        wait_until("the daemon to be ready", Duration::from_secs(30), || {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("daemon exited with {status}:\n{}", self.log_text());
            }
            client
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().is_success())
                .then_some(())
        });
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and wait for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        self.child = None;
        status
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let child = self.child.as_mut().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        self.child = None;
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the daemon first");
        self.spawn();
    }

    pub fn api(&self, token: &str) -> Api {
        Api {
            url: self.url.clone(),
            token: token.to_string(),
            http: reqwest::blocking::Client::new(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A bearer-token client returning (status, JSON body).
pub struct Api {
    pub url: String,
    pub token: String,
    http: reqwest::blocking::Client,
}

impl Api {
    pub fn req(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.try_req(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Like `req`, but a connection failure is an error, not a panic.
    pub fn try_req(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), String> {
        let url = format!("{}{path}", self.url);
        let mut r = self
            .http
            .request(method.parse().unwrap(), &url)
            .timeout(Duration::from_secs(30));
        if !self.token.is_empty() {
            r = r.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        ))
    }

    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.req("GET", path, None)
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.req("POST", path, Some(&body))
    }
}
