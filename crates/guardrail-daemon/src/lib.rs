//! `guardrail serve` and what it needs: the HTTP API (`server`), the operations behind it over
//! the store (`service`), notifications (`notify`), the drift poller (`poller`), Prometheus
//! metrics (`metrics`), and the blocking API client the CLI uses (`client`). Decisions come
//! from `guardrail-core`; durable state from `guardrail-store`. ARCHITECTURE.md is the map.
#![forbid(unsafe_code)]

pub mod client;
pub mod delivery;
pub mod metrics;
pub mod notify;
pub mod poller;
pub mod server;
pub mod service;
