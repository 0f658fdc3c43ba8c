//! guichet: an authenticating reverse proxy for FranceConnect, FranceConnect+ and MConnect.
//!
//! See `ARCHITECTURE.md` for the layers and the map of modules; the life of a request is in
//! the docs of `proxy` and `gateway`.
#![forbid(unsafe_code)]

pub mod assertion;
pub mod audit;
pub mod authority;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod edge;
pub mod forms;
pub mod gateway;
pub mod hygiene;
pub mod identity;
pub mod jose;
pub mod keys;
pub mod limits;
pub mod listeners;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod policy;
pub mod proxy;
pub mod request_id;
pub mod server;
pub mod session;
pub mod throttle;
pub mod tls;
pub mod upgraded;
pub mod upstream;
pub mod vocab;
pub mod web;
