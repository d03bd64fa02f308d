//! The compiled policy data a route holds (guards, retries, conditions,
//! path templates) and the consumers a table admits. A leaf: it knows nothing of the table or the executor,
//! which both read it. The async parts (probing, the retry loop) are request
//! stages ([`crate::stages`]).

pub mod condition;
pub mod consumer;
pub mod example;
pub mod guard;
pub mod path_template;
pub mod retry;
