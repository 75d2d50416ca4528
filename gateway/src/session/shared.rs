//! Sessions kept in a Redis every gateway shares (zot's `sessionDriver: redis`), so a logout on one gateway ends the session on all.
//!
//! The cookie is 32 random bytes, the session's secret. Redis holds, under
//! `<keyprefix>:<sha256(secret)>`, the claims sealed with a key derived from
//! the secret, expiring with the session. Neither half is of use alone:
//! whoever reads Redis finds neither a cookie nor a password, and a cookie
//! whose entry is gone (logged out, expired) opens nothing.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::OsRng;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::seal::{Claims, Key};
use crate::config::SessionDriver;
use crate::error::GatewayError;

const SECRET: usize = 32;

/// The shared store; one connection (multiplexed, reconnecting) per gateway.
pub(crate) struct Shared {
    driver: SessionDriver,
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    prefix: String,
    /// Each Redis command's bound: a hung Redis fails the request, never holds it.
    timeout: Duration,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(driver: &SessionDriver, timeout: Duration) -> anyhow::Result<Self> {
        let url = driver.url.as_deref().unwrap_or_default();
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("http.auth.sessionDriver.url: {e}"))?;
        let prefix = match driver.keyprefix.as_deref() {
            Some("") => String::new(),
            Some(p) => format!("{p}:"),
            None => "zotsession:".into(),
        };
        Ok(Self {
            driver: driver.clone(),
            client,
            conn: OnceCell::new(),
            prefix,
            timeout,
        })
    }

    /// Is this the store `driver` describes (a reload keeps its connection)?
    pub(crate) fn is(&self, driver: &SessionDriver) -> bool {
        &self.driver == driver
    }

    /// Stores a new session; returns its cookie value.
    pub(crate) async fn issue(
        &self,
        claims: &Claims,
        lifetime: Duration,
    ) -> Result<String, GatewayError> {
        let mut secret = [0u8; SECRET];
        OsRng.fill_bytes(&mut secret);
        let sealed = key(&secret).seal(claims);
        let mut conn = self.conn().await?;
        let name = self.name(&secret);
        self.bounded(conn.set_ex::<_, _, ()>(name, sealed, lifetime.as_secs()))
            .await?;
        Ok(URL_SAFE_NO_PAD.encode(secret))
    }

    /// The session a cookie names, if it is still in the store.
    pub(crate) async fn open(&self, cookie: &str) -> Result<Option<Claims>, GatewayError> {
        let Some(secret) = decode(cookie) else {
            return Ok(None);
        };
        let mut conn = self.conn().await?;
        let sealed: Option<String> = self.bounded(conn.get(self.name(&secret))).await?;
        Ok(sealed.and_then(|s| key(&secret).open(&s)))
    }

    /// Ends the session a cookie names, for every gateway.
    pub(crate) async fn end(&self, cookie: &str) -> Result<(), GatewayError> {
        let Some(secret) = decode(cookie) else {
            return Ok(());
        };
        let mut conn = self.conn().await?;
        self.bounded(conn.del::<_, ()>(self.name(&secret))).await
    }

    fn name(&self, secret: &[u8]) -> String {
        format!("{}{}", self.prefix, hex(&Sha256::digest(secret)))
    }

    async fn conn(&self) -> Result<ConnectionManager, GatewayError> {
        let connect = async {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(self.timeout)
                .set_response_timeout(self.timeout)
                .set_number_of_retries(1);
            self.client
                .get_connection_manager_with_config(config)
                .await
                .map_err(unavailable)
        };
        let conn = tokio::time::timeout(self.timeout, self.conn.get_or_try_init(|| connect))
            .await
            .map_err(|_| GatewayError::SessionStore {
                reason: format!("no connection within {:?}", self.timeout),
            })??;
        Ok(conn.clone())
    }

    async fn bounded<T>(
        &self,
        op: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, GatewayError> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(GatewayError::SessionStore {
                reason: format!("no answer within {:?}", self.timeout),
            }),
        }
    }
}

fn key(secret: &[u8]) -> Key {
    Key::derive(secret, b"redis")
}

fn decode(cookie: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(cookie)
        .ok()
        .filter(|s| s.len() == SECRET)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unavailable(err: redis::RedisError) -> GatewayError {
    GatewayError::SessionStore {
        reason: err.to_string(),
    }
}
