//! Test support for the service's unit tests: a [`World`] of one service over the real SQLite
//! store in a temporary directory, a clock the test moves, and the identities of each role.
//! The runtime is built from a `guardrail.yaml` text with the embedded policy library, as the
//! server would build it, without depending on the server module.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::drift::{Fetched, HashCache, PollReport};
use super::{Runtime, Service, api};
use crate::metrics::Metrics;
use guardrail_core::config::Config;
use guardrail_core::drift::Watch;
use guardrail_core::project::{ConfigFile, Flags, Project};
use guardrail_store::{self as store, Identity, OutboxRow, Role};
use guardrail_store::{Store, StoreUrl};

/// A target in two environments: staging takes changes at once, production needs one approval.
pub const CHANGES: &str = r#"
targets:
  - name: app
    kind: generic
    format: yaml
    environments:
      staging: {}
      production: {}
environments:
  staging: {}
  production: {approvals: {count: 1}}
"#;

/// One target whose `lab` environment is polled from a file: the world of the drift operations.
pub const WATCHED: &str = r#"
targets:
  - name: app
    kind: generic
    format: yaml
    environments:
      lab:
        source: {file: live/app.yaml}
        poll_interval: 1s
"#;

/// Content of `app` that no policy minds.
pub const APP: &str = "replicas: 3\n";

/// The instant every world starts at.
pub const START: &str = "2026-11-21T10:00:00Z";

/// The runtime of `config` (a guardrail.yaml text) rooted at `root`, with the embedded policy
/// library and no waivers.
pub fn runtime(config: &str, root: &std::path::Path) -> Runtime {
    let config = Config::parse(config).unwrap_or_else(|d| {
        panic!(
            "test config: {:?}",
            d.iter()
                .map(|d| d.render("guardrail.yaml"))
                .collect::<Vec<_>>()
        )
    });
    // `root` holds no policies/ directory: the project runs on the embedded library.
    let file = ConfigFile {
        config,
        name: "guardrail.yaml".into(),
        root: Some(root.to_path_buf()),
    };
    let project = Project::load(Some(file), &Flags::default())
        .unwrap_or_else(|e| panic!("test project: {:?}", e.lines));
    Runtime::new(project).expect("test runtime")
}

/// The test world's store: SQLite in `data_dir`, or with `GUARDRAIL_TEST_STORE=postgres` a new
/// database on the test cluster (`scripts/test.sh` runs the service's tests both ways).
pub fn test_store(data_dir: &std::path::Path) -> Arc<dyn Store> {
    let url = match std::env::var("GUARDRAIL_TEST_STORE").as_deref() {
        Ok("postgres") => StoreUrl::Postgres(guardrail_store::postgres::test_database().expect(
            "GUARDRAIL_TEST_STORE=postgres needs GUARDRAIL_TEST_POSTGRES (scripts/test.sh)",
        )),
        Ok("sqlite") | Err(_) => StoreUrl::in_data_dir(data_dir),
        Ok(other) => panic!("GUARDRAIL_TEST_STORE={other}: expected sqlite or postgres"),
    };
    url.open().unwrap()
}

pub struct World {
    _dir: tempfile::TempDir,
    pub svc: Service,
    clock: Arc<Mutex<DateTime<Utc>>>,
    pub cache: HashCache,
}

impl World {
    pub fn new(config: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(config, dir.path());
        let store = test_store(&dir.path().join("data"));
        let start = at(START);
        let key = super::audit::open_key(store.as_ref(), &dir.path().join("audit.key"), start)
            .unwrap()
            .key;
        let clock = Arc::new(Mutex::new(start));
        let c = clock.clone();
        let svc = Service::new(
            store,
            rt,
            Arc::new(Metrics::new()),
            Arc::new(move || *c.lock().unwrap()),
            key,
        );
        World {
            _dir: dir,
            svc,
            clock,
            cache: HashCache::default(),
        }
    }

    pub fn advance(&self, secs: i64) {
        *self.clock.lock().unwrap() += Duration::seconds(secs);
    }

    pub fn watch(&self, target: &str) -> Watch {
        self.svc
            .runtime()
            .watches
            .iter()
            .find(|w| w.target == target)
            .unwrap()
            .clone()
    }

    pub fn poll(&self, target: &str, content: &str) -> PollReport {
        self.svc
            .record_poll(
                &self.watch(target),
                Fetched::Content(content.as_bytes().to_vec()),
                &self.cache,
            )
            .unwrap()
    }

    pub fn outbox(&self) -> Vec<OutboxRow> {
        store::read(self.svc.store.as_ref(), |tx| tx.outbox_pending(1000)).unwrap()
    }

    /// The actions of the audit log, oldest first (the key marker left out).
    pub fn audit_actions(&self) -> Vec<String> {
        self.svc
            .audit_records(0, 1000)
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .filter(|a| a != guardrail_core::change::audit::KEYED_ACTION)
            .collect()
    }

    /// The newest audit action.
    pub fn last_action(&self) -> String {
        self.audit_actions().pop().unwrap_or_default()
    }

    /// Submits a change of one target as `who`.
    pub fn submit_as(
        &self,
        who: &Identity,
        target: &str,
        env: &str,
        content: &str,
    ) -> super::Result<api::ChangeView> {
        self.svc.submit(
            who,
            api::SubmitChange {
                env: env.into(),
                title: "bump replicas".into(),
                ticket: "OPS-1".into(),
                source_url: String::new(),
                commit: String::new(),
                targets: vec![api::TargetContent {
                    target: target.into(),
                    content: content.into(),
                    format: None,
                }],
            },
        )
    }
}

impl World {
    /// A change of `app` submitted by [`requester`] (approved at once in staging, awaiting an
    /// approval in production).
    pub fn submitted(&self, env: &str, content: &str) -> api::ChangeView {
        self.submit_as(&requester(), "app", env, content).unwrap()
    }

    /// Approves change `c` (its current content) as [`other_approver`].
    pub fn approve(&self, c: &api::ChangeView) -> super::Result<api::ChangeView> {
        self.svc.approve(
            &other_approver(),
            c.id,
            api::ApprovalBody {
                decision: api::DecisionBody::Approve,
                comment: "looks right".into(),
                content_hash: c.content_hash.clone(),
            },
        )
    }

    /// Reports change `id` applied as [`deployer`].
    pub fn apply(&self, id: i64) -> super::Result<api::ChangeView> {
        self.svc.applied(&deployer(), id, api::NoteBody::default())
    }

    /// The state of change `id` now.
    pub fn state(&self, id: i64) -> String {
        self.svc.show(id, false).unwrap().state
    }

    /// How often change transitions `from` → `to` were counted.
    pub fn transitions(&self, from: &str, to: &str) -> u64 {
        let l = crate::metrics::FromTo {
            from: from.into(),
            to: to.into(),
        };
        self.svc.metrics.changes.transitions.get_or_create(&l).get()
    }
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn user(name: &str, roles: &[Role]) -> Identity {
    Identity {
        user: name.into(),
        roles: roles.to_vec(),
        groups: vec![],
    }
}

/// The author of the changes of [`World::submitted`].
pub fn requester() -> Identity {
    user("rita", &[Role::Requester])
}

/// Another requester (not the author).
pub fn other_requester() -> Identity {
    user("rob", &[Role::Requester])
}

pub fn deployer() -> Identity {
    user("dave", &[Role::Deployer])
}

/// An admin (holds every role).
pub fn admin() -> Identity {
    user("alice", &[Role::Admin])
}

/// An approver who neither wrote a change nor broke its glass (four eyes).
pub fn other_approver() -> Identity {
    user("dana", &[Role::Approver])
}
