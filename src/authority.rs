//! Requests from public authorities: legal review, narrowing to the minimum, disclosure
//! approval, records of request, response and basis (issue of the next sitting). So far:
//! what each legal instrument allows to be produced ([`instruments`]) and the narrowing of
//! a requested scope to an approved one ([`scope`]), as rules with their tests; the
//! domain's commands, workflow and store come next.

pub mod instruments;
pub mod scope;
