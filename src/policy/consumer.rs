//! Compiled consumers: who holds which relay key, what each may call, and
//! the limits and budgets their requests count against. Keys are kept only
//! as SHA-256 digests; a presented key is hashed and looked up, so neither
//! its content nor its length leaks through timing.

use std::time::SystemTime;

use globset::GlobSet;
use sha2::{Digest, Sha256};

pub use crate::spec::consumer::WhenUnreachable;
pub use crate::spec::units::Per;

/// Every consumer of a table, and their keys.
#[derive(Default)]
pub struct Consumers {
    pub list: Vec<Consumer>,
    /// By digest: uniform bytes, so a fast hash does (foldhash).
    keys: foldhash::HashMap<[u8; 32], KeyOwner>,
    /// Dollars per million tokens, by model glob, most specific first (an
    /// exact name, then the longest pattern).
    pub prices: Vec<(globset::GlobMatcher, Price)>,
    /// Where the counters live.
    pub state: StateSettings,
}

impl std::fmt::Debug for Consumers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Consumers({} consumers, {} keys)", self.list.len(), self.keys.len())
    }
}

/// Whose a key is, and until when.
#[derive(Debug, Clone, Copy)]
pub struct KeyOwner {
    pub consumer: usize,
    pub expires: Option<SystemTime>,
}

/// What a presented key turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identified {
    Consumer(usize),
    Expired,
    Unknown,
}

impl Consumers {
    /// Adds a consumer and returns its index.
    /// Whether any key is held (by a consumer or in `RELAY_KEYS`).
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    pub fn push(&mut self, consumer: Consumer) -> usize {
        self.list.push(consumer);
        self.list.len() - 1
    }

    /// Adds a key (as its digest) of consumer `owner.consumer`; false when
    /// the key is already someone's.
    pub fn add_key(&mut self, digest: [u8; 32], owner: KeyOwner) -> bool {
        self.keys.insert(digest, owner).is_none()
    }

    /// Whether any key is configured (otherwise every route is open).
    pub fn is_enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Whose key `key` is, at `now`.
    pub fn identify(&self, key: &str, now: SystemTime) -> Identified {
        match self.keys.get(&digest(key)) {
            Some(owner) if owner.expires.is_some_and(|expires| now >= expires) => Identified::Expired,
            Some(owner) => Identified::Consumer(owner.consumer),
            None => Identified::Unknown,
        }
    }

    /// The price of `model`: the most specific `[price.GLOB]` that matches.
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.prices.iter().find(|(glob, _)| glob.is_match(model)).map(|(_, price)| price)
    }
}

/// The SHA-256 digest of a key.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A key's digest as `keys = [...]` writes it: `sha256:<hex>`.
pub fn written_digest(key: &str) -> String {
    let hex: String = digest(key).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// One compiled `[consumer.NAME]` (or the anonymous holders of `RELAY_KEYS`).
#[derive(Debug)]
pub struct Consumer {
    pub name: String,
    /// Indexes of the routes this consumer may call; `None`: every route.
    pub routes: Option<Vec<bool>>,
    /// Models it may use; `None`: every model.
    pub models: Option<ModelRule>,
    pub limits: Limits,
}

impl Consumer {
    /// A consumer without restrictions.
    pub fn open(name: &str) -> Consumer {
        Consumer { name: name.to_owned(), routes: None, models: None, limits: Limits::default() }
    }

    /// Whether the consumer may call route `index`.
    pub fn may_call(&self, index: usize) -> bool {
        self.routes.as_ref().is_none_or(|allowed| allowed.get(index).copied().unwrap_or(false))
    }

    /// Whether the consumer may use `model`.
    pub fn may_use(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|rule| rule.set.is_match(model))
    }

    /// Whether a request's body must be read to check it before sending.
    pub fn needs_model(&self) -> bool {
        self.models.is_some()
    }
}

/// `models = [...]`: globs, and the list as written for error messages.
#[derive(Debug)]
pub struct ModelRule {
    pub set: GlobSet,
    pub written: Vec<String>,
}

/// A count allowed per window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub amount: u64,
    pub per: Per,
}

/// What one consumer's requests count against. Dollars are counted in
/// micro-dollars.
#[derive(Debug, Default, Clone)]
pub struct Limits {
    pub requests: Option<Limit>,
    pub tokens: Option<Limit>,
    pub input_tokens: Option<Limit>,
    pub output_tokens: Option<Limit>,
    pub concurrent: Option<u32>,
    pub budget_tokens: Option<Limit>,
    pub budget_micro_usd: Option<Limit>,
}

/// What a limit counts: the one list the admission, the settlement and
/// `/relay/usage` all walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Requests,
    Tokens,
    InputTokens,
    OutputTokens,
    BudgetTokens,
    BudgetUsd,
}

impl Counted {
    /// The name in counter keys, messages and `/relay/usage`.
    pub fn name(self) -> &'static str {
        match self {
            Counted::Requests => "requests",
            Counted::Tokens => "tokens",
            Counted::InputTokens => "input_tokens",
            Counted::OutputTokens => "output_tokens",
            Counted::BudgetTokens => "budget_tokens",
            Counted::BudgetUsd => "budget_usd",
        }
    }

    /// Whether it is a budget (429 `insufficient_quota`) rather than a rate.
    pub fn is_budget(self) -> bool {
        matches!(self, Counted::BudgetTokens | Counted::BudgetUsd)
    }
}

impl Limits {
    /// Whether any limit counts tokens or money (what settlement adds).
    pub fn counts_tokens(&self) -> bool {
        let Limits { requests: _, concurrent: _, tokens, input_tokens, output_tokens, budget_tokens, budget_micro_usd } =
            self;
        [tokens, input_tokens, output_tokens, budget_tokens, budget_micro_usd].iter().any(|limit| limit.is_some())
    }

    /// Every limit that is set, with what it counts (`concurrent` aside).
    pub fn each(&self) -> impl Iterator<Item = (Counted, Limit)> {
        [
            (Counted::Requests, self.requests),
            (Counted::Tokens, self.tokens),
            (Counted::InputTokens, self.input_tokens),
            (Counted::OutputTokens, self.output_tokens),
            (Counted::BudgetTokens, self.budget_tokens),
            (Counted::BudgetUsd, self.budget_micro_usd),
        ]
        .into_iter()
        .filter_map(|(counted, limit)| Some((counted, limit?)))
    }
}

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub cached_input: f64,
    pub output: f64,
}

/// `[state]` compiled.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StateSettings {
    pub redis: Option<String>,
    pub when_unreachable: WhenUnreachable,
    /// Where in-process counters are saved.
    pub file: Option<std::path::PathBuf>,
}
