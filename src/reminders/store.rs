//! The reminders domain's SQL: customers and their consent ([`customers`]), appointments
//! and their reminders ([`appointments`]).

pub mod appointments;
pub mod customers;
