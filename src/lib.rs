//! guardrail: a change-management guardrail for infrastructure configuration.
//!
//! This package is the `guardrail` binary and its command line (`cli`). The layers live in the
//! workspace's crates, re-exported here under their module names so that `guardrail::policy`,
//! `guardrail::store` or `guardrail::service` name the same thing everywhere:
//! `guardrail-core` (pure: documents, formats, diff, policies, reports, change and drift
//! decisions), `guardrail-store` (durable state), `guardrail-daemon` (`guardrail serve`, its
//! service, notifications, drift poller, metrics and API client). ARCHITECTURE.md is the map.
#![forbid(unsafe_code)]

pub mod cli;

pub use guardrail_core::{
    change, config, diff, document, drift, formats, pipeline, policy, project, report,
};
pub use guardrail_daemon::{client, metrics, notify, poller, server, service};
pub use guardrail_store as store;
