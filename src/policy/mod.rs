//! The compiled policy data a route holds: guards, retries, conditions and
//! path templates. A leaf: it knows nothing of the table or the executor,
//! which both read it. The async parts (probing, the retry loop) are request
//! stages ([`crate::stages`]).

pub mod condition;
pub mod guard;
pub mod path_template;
pub mod retry;
