//! heliport's proxy hot path: the server, the request pipeline, the upstream
//! client and the tee that records responses as they stream through.

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod async_log;
mod attempts;
mod auth;
mod cache;
pub mod export;
mod guards;
pub mod headers;
mod ids;
pub mod listener;
mod listener_tls;
pub mod pipeline;
mod rate_limit;
mod request_body;
pub mod server;
pub mod state;
pub mod tee;
pub mod upstream;
pub mod workers;

pub use guards::{ModerationSettings, SecuritySettings};
pub use server::{router, router_with_dashboard, App, Dashboard};
pub use state::{AuthMode, GatewayConfig, GatewayState, OnStoreError, RequestCounters};
