//! guardrail: a change-management guardrail for infrastructure configuration.
//!
//! The library is split into a pure core (`document`, `formats`, `diff`) that takes text and
//! values and returns values, and a shell (`cli`) that reads files, prints and exits.
//! ARCHITECTURE.md names which module may depend on which.
#![forbid(unsafe_code)]

pub mod change;
pub mod cli;
pub mod client;
pub mod config;
pub mod diff;
pub mod document;
pub mod drift;
pub mod formats;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod policy;
pub mod poller;
pub mod report;
pub mod server;
pub mod service;
pub mod store;
