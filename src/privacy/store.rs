//! The privacy domain's SQL: requests, their timeline and their extensions.

pub mod codes;
pub mod packages;
pub mod requests;
