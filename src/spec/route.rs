//! `[[route]]` as written, and the inline-table entry of `[routes]`
//! (`id = { at = "METHOD /path  summary", ... }`), which takes every route
//! key but `id`, `method`, `path` and `summary`. One macro writes both
//! structs from one list of those keys, so they cannot drift apart.

use serde::Deserialize;
use toml::Spanned;

use super::{
    BodySpec, HeaderPolicySpec, Methods, OpenApiSpec, Protocol, QuerySpec, ResponseHeaderSpec, ResponseMode,
    RouteCorsSpec, WebSocketSpec, guard, retry,
};

/// Defines [`RouteSpec`] and [`InlineRouteSpec`] with the shared keys in
/// two groups (before and after `summary`, the order serde lists them in).
macro_rules! route_specs {
    (
        before_summary { $( $(#[$m1:meta])* $f1:ident : $t1:ty, )* }
        after_summary { $( $(#[$m2:meta])* $f2:ident : $t2:ty, )* }
    ) => {
        /// One `[[route]]`.
        #[derive(Debug, Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct RouteSpec {
            /// Unique id across all files, e.g. `files.upload`.
            #[schemars(with = "String")]
            pub id: Spanned<String>,
            /// One method or several: `"GET"` or `["GET", "HEAD"]`.
            #[schemars(with = "Methods")]
            pub method: Spanned<Methods>,
            /// Inbound path pattern; `{name}` matches one segment.
            #[schemars(with = "String")]
            pub path: Spanned<String>,
            $( $(#[$m1])* pub $f1: $t1, )*
            /// One-line summary for the generated API document.
            pub summary: Option<String>,
            $( $(#[$m2])* pub $f2: $t2, )*
        }

        /// A `[routes]` entry written as an inline table.
        #[derive(Debug, Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct InlineRouteSpec {
            /// `"METHOD /path  summary"`, as a `[routes]` line.
            #[schemars(with = "String")]
            pub at: Spanned<String>,
            $( $(#[$m1])* pub $f1: $t1, )*
            $( $(#[$m2])* pub $f2: $t2, )*
        }

        impl InlineRouteSpec {
            /// The route with these keys and the four `at` and the key give.
            pub fn into_route(
                self,
                id: Spanned<String>,
                method: Spanned<Methods>,
                path: Spanned<String>,
                summary: Option<String>,
            ) -> RouteSpec {
                RouteSpec { id, method, path, summary, $( $f1: self.$f1, )* $( $f2: self.$f2, )* }
            }
        }

        impl RouteSpec {
            /// The route that sets only these four keys.
            pub fn plain(
                id: Spanned<String>,
                method: Spanned<Methods>,
                path: Spanned<String>,
                summary: Option<String>,
            ) -> RouteSpec {
                RouteSpec { id, method, path, summary, $( $f1: Default::default(), )* $( $f2: Default::default(), )* }
            }
        }
    };
}

route_specs! {
    before_summary {
        /// Upstream name; defaults to `[defaults].upstream`, or to the only upstream.
        #[schemars(with = "Option<String>")]
        upstream: Option<Spanned<String>>,
        /// Path below the upstream's `base_url`; may use `{name}` from `path`.
        /// Defaults to `path` without its leading `/v1`.
        #[schemars(with = "Option<String>")]
        upstream_path: Option<Spanned<String>>,
        /// Overrides the upstream's `timeout` for this route.
        #[schemars(with = "Option<String>")]
        timeout: Option<Spanned<String>>,
        /// Overrides the upstream's `idle_timeout` for this route.
        #[schemars(with = "Option<String>")]
        idle_timeout: Option<Spanned<String>>,
        /// `stream` (default) or `buffer`.
        #[serde(default)]
        response: Option<ResponseMode>,
        /// A public route needs no relay key.
        public: Option<bool>,
        /// Which client headers go upstream and which are set.
        headers: Option<HeaderPolicySpec>,
        /// Query parameters added when the client's query lacks them.
        query: Option<QuerySpec>,
        /// Response headers to drop or set.
        response_headers: Option<ResponseHeaderSpec>,
        /// Accepted content types and size limits of the request body.
        body: Option<BodySpec>,
    }
    after_summary {
        /// Longer description for the generated API document.
        description: Option<String>,
        /// Tags for the generated API document.
        tags: Option<Vec<String>>,
        /// How the route appears in the generated OpenAPI and Actions documents.
        #[schemars(with = "Option<OpenApiSpec>")]
        openapi: Option<Spanned<OpenApiSpec>>,
        /// When failed upstream requests are sent again.
        #[schemars(with = "Option<retry::RetrySpec>")]
        retry: Option<Spanned<retry::RetrySpec>>,
        /// Conditions that can deny the request before it is forwarded.
        #[serde(default)]
        #[schemars(with = "Vec<guard::GuardSpec>")]
        guards: Vec<Spanned<guard::GuardSpec>>,
        /// Request transforms (`[[route.transforms]]`, tagged by `type`).
        #[serde(default)]
        #[schemars(with = "Vec<crate::transforms::TransformSpec>")]
        transforms: Vec<Spanned<crate::transforms::TransformSpec>>,
        /// The listeners serving this route (default: the `default` listener).
        #[schemars(with = "Option<Vec<String>>")]
        listeners: Option<Spanned<Vec<String>>>,
        /// Serve a model list filtered, from a local file or with a fallback.
        #[schemars(with = "Option<crate::model_list::ModelListSpec>")]
        models: Option<Spanned<crate::model_list::ModelListSpec>>,
        /// `http` (default) or `websocket`.
        #[schemars(with = "Option<Protocol>")]
        protocol: Option<Spanned<Protocol>>,
        /// Limits of a `websocket` route (`[route.websocket]`).
        #[schemars(with = "Option<WebSocketSpec>")]
        websocket: Option<Spanned<WebSocketSpec>>,
        /// Replaces the route with the same id defined in another file.
        #[serde(default, rename = "override")]
        replaces: bool,
        /// This route's own CORS settings, or `false` for none (default: the listener's).
        #[schemars(with = "Option<RouteCorsSpec>")]
        cors: Option<Spanned<RouteCorsSpec>>,
        /// For a consumer's streamed chat completion that did not ask for
        /// its usage: ask the upstream for it (`stream_options.include_usage`)
        /// so the consumer's tokens are counted, and keep the usage chunk
        /// from the client.
        stream_usage: Option<bool>,
        /// Examples of this route (`[[route.examples]]`): a client request
        /// and what must come out; `relay test` checks them offline.
        #[serde(default)]
        #[schemars(with = "Vec<super::example::ExampleSpec>")]
        examples: Vec<Spanned<super::example::ExampleSpec>>,
    }
}
