//! The reminders domain's SQL: customers and their consent ([`customers`]), appointments
//! and their reminders ([`appointments`]), customers' replies ([`replies`]), what a send reads at fire time ([`sending`]).

pub mod appointments;
pub mod customers;
pub mod replies;
pub mod sending;
