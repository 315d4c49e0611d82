//! Meta's Graph API (WhatsApp Business Platform): the error envelope and how each error
//! is handled, and the HTTP client the workflows use. The sandbox that stands in for Meta
//! lives in `crate::sandbox`.

pub mod client;
pub mod error;
pub mod limiter;
pub mod signature;
pub mod signed_request;
pub mod wire;

pub use client::{GraphClient, GraphSettings};
pub use error::{GraphError, Handling};
