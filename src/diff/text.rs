//! Unified text diff of redacted sources (placeholder until written).
