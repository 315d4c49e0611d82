//! Data lifecycle: what the platform stores and what happens to it. The data map
//! ([`data_map`]) names every table with its category, the subject keys its records are
//! found by, the time its retention counts from and what erasure does to it; legal holds,
//! retention sweeps and erasure build on it.

pub mod data_map;
