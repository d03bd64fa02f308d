//! Counters in Redis, shared by every replica: each admission is one
//! pipeline (the request counter's `INCRBY` and `EXPIREAT` in a
//! transaction, then a `GET` of each token counter), one round trip; each
//! settlement is one more, sent after the answer has ended. Windows come
//! from the wall clock ([`super::window`]) and name the key, so replicas
//! agree on them without coordinating. The connection is made lazily and
//! remade after a failure; a command that gets no answer within
//! [`TIMEOUT`] counts as Redis being unreachable.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The longest wait for Redis on the request path.
pub const TIMEOUT: Duration = Duration::from_millis(250);

/// A Redis server's counters.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisStore")
    }
}

impl RedisStore {
    /// A store for `url`; nothing is connected until the first command.
    /// Must be called inside a Tokio runtime that outlives the store.
    pub fn new(url: &str) -> Result<RedisStore, String> {
        let client = redis::Client::open(url).map_err(|e| format!("the Redis URL is not valid: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| e.to_string())?;
        Ok(RedisStore { connection })
    }

    /// Adds 1 to `incr` (a counter until `ends`) if given, and reads `gets`:
    /// the new count and the values, in one round trip.
    pub async fn count(&self, incr: Option<(&str, u64)>, gets: &[String]) -> Result<(u64, Vec<u64>), String> {
        let mut pipe = redis::pipe();
        if let Some((key, ends)) = incr {
            pipe.cmd("MULTI").ignore();
            pipe.cmd("INCRBY").arg(key).arg(1).ignore();
            pipe.cmd("EXPIREAT").arg(key).arg(ends).ignore();
            pipe.cmd("EXEC");
        }
        for key in gets {
            pipe.cmd("GET").arg(key);
        }
        if incr.is_none() && gets.is_empty() {
            return Ok((0, Vec::new()));
        }
        let mut connection = self.connection.clone();
        let query = pipe.query_async::<Vec<redis::Value>>(&mut connection);
        let values = tokio::time::timeout(TIMEOUT * 2, query)
            .await
            .map_err(|_| "Redis did not answer in time".to_owned())?
            .map_err(|e| e.to_string())?;
        let mut values = values.into_iter();
        let count = match incr {
            // EXEC answers the transaction's replies: INCRBY's, then EXPIREAT's.
            Some(_) => match values.next() {
                Some(redis::Value::Array(replies)) => replies.first().map_or(0, number),
                other => return Err(format!("unexpected answer from Redis: {other:?}")),
            },
            None => 0,
        };
        Ok((count, values.map(|value| number(&value)).collect()))
    }

    /// Adds each `(key, amount, ends)`, in one round trip.
    pub async fn add_all(&self, adds: &[(String, u64, u64)]) -> Result<(), String> {
        if adds.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, amount, ends) in adds {
            pipe.cmd("INCRBY").arg(key).arg(*amount).ignore();
            pipe.cmd("EXPIREAT").arg(key).arg(*ends).ignore();
        }
        let mut connection = self.connection.clone();
        let query = pipe.query_async::<()>(&mut connection);
        tokio::time::timeout(TIMEOUT * 2, query)
            .await
            .map_err(|_| "Redis did not answer in time".to_owned())?
            .map_err(|e| e.to_string())
    }
}

/// A counter's value (a missing key is 0).
fn number(value: &redis::Value) -> u64 {
    match value {
        redis::Value::Int(n) => u64::try_from(*n).unwrap_or(0),
        redis::Value::BulkString(bytes) => std::str::from_utf8(bytes).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
        _ => 0,
    }
}
