//! A small blocking client of the daemon's API, for the `guardrail change|audit|drift|...`
//! commands and `check --server`.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8437";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The daemon answered with an error.
    #[error("{status}: {message}")]
    Api {
        status: u16,
        message: String,
        field: Option<String>,
        reasons: Vec<String>,
    },
    #[error("unexpected answer from the daemon: {0}")]
    Decode(String),
    /// An offline command could not open the store (the message names it).
    #[error("{0}")]
    Store(String),
}

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(server: &str, token: Option<String>) -> Result<Client, ClientError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: server.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Client {
            base: server.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::blocking::RequestBuilder,
        url: &str,
    ) -> Result<T, ClientError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        if !status.is_success() {
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            return Err(ClientError::Api {
                status: status.as_u16(),
                message: body["error"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| text.trim().to_string()),
                field: body["field"].as_str().map(str::to_string),
                reasons: body["reasons"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| r.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text).map_err(|e| ClientError::Decode(e.to_string()))
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
        self.send(self.http.get(&url), &url)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        self.send(self.http.post(&url).json(body), &url)
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
        self.send(self.http.delete(&url), &url)
    }
}

/// Percent-encodes a query value.
pub fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
