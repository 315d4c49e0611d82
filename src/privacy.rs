//! Privacy requests: deletion, access and disconnect requests about a business account or
//! one of its customers, each a durable workflow with requester verification, review and
//! approval, the legal-hold check and execution through the data lifecycle's erasure and
//! export engines. So far: the statutory deadline engine ([`deadlines`]).

pub mod deadlines;
