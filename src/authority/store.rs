//! The authority domain's SQL: requests and their timeline ([`requests`]), packages and
//! notices ([`disclosures`]).

pub mod disclosures;
pub mod requests;
