//! The reminders domain's SQL: customers and their consent ([`customers`]), appointments
//! and their reminders ([`appointments`]), customers' replies ([`replies`]).

pub mod appointments;
pub mod customers;
pub mod replies;
