//! Rate limits on sign-in, recovery, invitation and token endpoints: fixed
//! one-minute windows counted in the database, so every instance sees the
//! same count. Keyed by client address and, where there is one, by account
//! (hashed: the table never holds an address in clear).

use std::net::IpAddr;

use actix_web::HttpRequest;

use super::token_hash;
use crate::{
    db::{identity, time::to_micros},
    error::ApiError,
    http::AppState,
};

/// The client's address: the peer, or, when the peer is a trusted proxy,
/// the right-most address in `X-Forwarded-For` that is not a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    let mut client = peer;
    for ip in forwarded.into_iter().rev() {
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    Some(client)
}

/// Counts an attempt at `scope` from this request (and for `account`);
/// refuses with 429 once a limit is passed in the current minute.
pub async fn check(
    state: &AppState,
    req: &HttpRequest,
    scope: &'static str,
    account: Option<&str>,
) -> Result<(), ApiError> {
    let ip = client_ip(req, &state.config.trusted_proxies);
    let now = state.clock.now();
    let window = now.timestamp() - now.timestamp().rem_euclid(60);
    let retry_after = (window + 60 - now.timestamp()).max(1) as u64;
    let window_start = to_micros(chrono::DateTime::from_timestamp(window, 0).unwrap_or(now));
    let ip_bucket = ip.map(|ip| format!("{scope}:ip:{ip}"));
    let account_bucket =
        account.map(|a| format!("{scope}:account:{}", token_hash(&a.trim().to_lowercase())));
    let (ip_limit, account_limit) = (
        state.config.rate_limit_ip_per_minute as i32,
        state.config.rate_limit_account_per_minute as i32,
    );
    let over = state
        .db
        .write(move |conn| -> Result<bool, ApiError> {
            let mut over = false;
            if let Some(bucket) = &ip_bucket {
                over |= identity::hit(conn, bucket, window_start)? > ip_limit;
            }
            if let Some(bucket) = &account_bucket {
                over |= identity::hit(conn, bucket, window_start)? > account_limit;
            }
            Ok(over)
        })
        .await?;
    if over {
        tracing::warn!(scope, "rate limit reached");
        return Err(ApiError::RateLimited {
            detail: format!("too many attempts; try again in {retry_after} seconds"),
            retry_after,
        });
    }
    Ok(())
}
