//! The edge settings of a listener as written: `tls = {...}` and
//! `cors = {...}`, and a route's `cors` override. Compiled by
//! [`crate::compile::edge`].

use serde::Deserialize;
use toml::Spanned;

/// `tls = { cert = "...", key = "..." }`: serve this listener over TLS.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// PEM certificate chain, leaf first. Relative to the routes directory;
    /// `${VAR}` expands.
    #[schemars(with = "String")]
    pub cert: Spanned<String>,
    /// PEM private key. Relative to the routes directory; `${VAR}` expands.
    #[schemars(with = "String")]
    pub key: Spanned<String>,
}

/// `cors = { ... }`: which browser origins may call this listener's routes.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsSpec {
    /// Allowed origins, exactly as browsers send them
    /// (`https://chat.example.com`), or `"*"` for any (not with credentials).
    #[schemars(with = "Vec<String>")]
    pub origins: Spanned<Vec<String>>,
    /// Methods allowed in a preflight (default: any method the route serves).
    #[schemars(with = "Option<Vec<String>>")]
    pub methods: Option<Spanned<Vec<String>>>,
    /// Request headers allowed in a preflight (default: those asked for).
    pub headers: Option<Vec<String>>,
    /// Response headers the browser may read (default: none beyond the safe ones).
    pub expose_headers: Option<Vec<String>>,
    /// Allow cookies and `Authorization` from the browser (default false).
    #[serde(default)]
    pub credentials: bool,
    /// How long browsers may cache a preflight answer, e.g. `"10m"`.
    #[schemars(with = "Option<String>")]
    pub max_age: Option<Spanned<String>>,
}

/// A route's `cors`: its own settings, or `false` for none.
#[derive(Debug, Clone)]
pub enum RouteCorsSpec {
    /// `cors = false` (no CORS on this route) or `cors = true` (the listener's).
    Switch(bool),
    /// `cors = { ... }`: replaces the listener's settings for this route.
    Own(Box<CorsSpec>),
}

impl<'de> Deserialize<'de> for RouteCorsSpec {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RouteCorsSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`false`, `true` or a table such as { origins = [\"https://app.example.com\"] }")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RouteCorsSpec, E> {
                Ok(RouteCorsSpec::Switch(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RouteCorsSpec, A::Error> {
                let spec = CorsSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RouteCorsSpec::Own(Box::new(spec)))
            }
        }
        de.deserialize_any(Visitor)
    }
}
