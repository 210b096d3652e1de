//! Signed-in users for tests: invitations made directly in the database (or
//! over HTTP), passkeys from webauthn-authenticator-rs's `SoftPasskey`, and
//! the HTTP calls of registration and sign-in.

use mystery_buyer_server::auth::{
    Role,
    invitations::{self, NewInvitation},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};

use std::sync::Arc;

use anyhow::Result;
use mystery_buyer_server::{
    Services,
    auth::{
        new_pseudonym,
        sessions::{self, Issued, SessionKind},
    },
    db::{
        time::to_micros,
        users::{self, UserRow},
    },
    error::ApiError,
};

use crate::{TestEnv, TestServer, unique};

/// A person with a software passkey.
pub struct Person {
    pub user_id: String,
    pub role: Role,
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: String,
    pub authenticator: SoftPasskey,
}

/// The origin the test configuration allows (the default public origin).
pub fn origin(env: &TestEnv) -> Url {
    Url::parse(&env.config.public_origin).expect("origin")
}

/// Creates an invitation as the server's CLI would (no inviter); returns
/// the token from its link.
pub async fn invite_directly(env: &TestEnv, role: Role, email: &str) -> String {
    let services = env.services().await;
    let now = services.clock.now();
    let config = services.config.clone();
    let email = email.to_string();
    let (_, link) = services
        .db
        .write(move |conn| {
            invitations::create(
                conn,
                &config,
                now,
                None,
                &NewInvitation {
                    role,
                    email,
                    display_name: Some(format!("Test {role}")),
                },
            )
        })
        .await
        .expect("invitation created");
    link_token(&link)
}

/// The token at the end of an invitation or recovery link.
pub fn link_token(link: &str) -> String {
    link.rsplit('/').next().expect("token").trim().to_string()
}

/// Sends `request` (with the bearer token, if any) and reads the status and
/// the JSON body (`Null` when there is none). A `503 busy` (no database
/// connection was free in time: nothing was done) is sent again after its
/// `Retry-After`, as the app does, up to 20 times: stories that send a
/// hundred requests at once on a loaded two-core machine meet it.
async fn answer(request: reqwest::RequestBuilder, token: Option<&str>) -> (StatusCode, Value) {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let mut attempts = 0;
    loop {
        let again = request
            .try_clone()
            .expect("a request with a body in memory");
        let response = again.send().await.expect("send");
        let status = response.status();
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        let body = response.json().await.unwrap_or(Value::Null);
        attempts += 1;
        if status == StatusCode::SERVICE_UNAVAILABLE && body["code"] == "busy" && attempts < 20 {
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            continue;
        }
        return (status, body);
    }
}

pub async fn post(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    answer(server.http.post(server.url(path)).json(&body), token).await
}

pub async fn get(server: &TestServer, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    answer(server.http.get(server.url(path)), token).await
}

/// A request with a JSON body and any method (`PUT`, `PATCH`, ...).
pub async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    answer(
        server.http.request(method, server.url(path)).json(&body),
        token,
    )
    .await
}

/// A `POST` of raw bytes with their content type (CSV uploads and the like).
pub async fn post_bytes(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let request = server
        .http
        .post(server.url(path))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    answer(request, token).await
}

/// Starts the registration behind an invitation link and lets `authenticator`
/// answer it; returns the ceremony id and the credential.
pub async fn register_credential(
    server: &TestServer,
    origin: &Url,
    start_path: &str,
    authenticator: &mut SoftPasskey,
) -> (String, Value) {
    let (status, started) = post(server, start_path, None, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let options = serde_json::from_value(started["public_key"].clone()).expect("creation options");
    let credential = authenticator
        .do_registration(origin.clone(), options)
        .expect("the authenticator registers");
    (
        started["ceremony_id"].as_str().expect("id").to_string(),
        serde_json::to_value(credential).expect("credential json"),
    )
}

/// Registers a first passkey through an invitation; returns the tokens.
pub async fn accept_invitation(
    server: &TestServer,
    env: &TestEnv,
    token: &str,
    authenticator: &mut SoftPasskey,
    extra: Value,
) -> (StatusCode, Value) {
    let (ceremony, credential) = register_credential(
        server,
        &origin(env),
        &format!("/api/auth/invitations/{token}/passkey"),
        authenticator,
    )
    .await;
    let mut body = json!({
        "ceremony_id": ceremony,
        "credential": credential,
        "device_name": "test phone",
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    post(server, "/api/auth/passkey/finish", None, body).await
}

/// Starts a sign-in for `user_id` and lets `authenticator` answer it.
pub async fn sign_in_credential(
    server: &TestServer,
    origin: &Url,
    user_id: &str,
    authenticator: &mut SoftPasskey,
) -> (String, Value) {
    let (status, started) = post(
        server,
        "/api/auth/sign-in",
        None,
        json!({ "user_id": user_id }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let options = serde_json::from_value(started["public_key"].clone()).expect("request options");
    let credential = authenticator
        .do_authentication(origin.clone(), options)
        .expect("the authenticator signs");
    (
        started["ceremony_id"].as_str().expect("id").to_string(),
        serde_json::to_value(credential).expect("credential json"),
    )
}

pub async fn finish_sign_in(
    server: &TestServer,
    ceremony: &str,
    credential: &Value,
) -> (StatusCode, Value) {
    post(
        server,
        "/api/auth/sign-in/finish",
        None,
        json!({ "ceremony_id": ceremony, "credential": credential, "device_name": "test laptop" }),
    )
    .await
}

/// A fresh user of `role`, signed in with an app session.
pub async fn person(server: &TestServer, env: &TestEnv, role: Role) -> Person {
    let email = format!("{}@example.org", unique("p"));
    let token = invite_directly(env, role, &email).await;
    let mut authenticator = SoftPasskey::new(true);
    let (status, tokens) =
        accept_invitation(server, env, &token, &mut authenticator, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    Person {
        user_id: tokens["user_id"].as_str().expect("user").into(),
        role,
        access_token: tokens["access_token"].as_str().expect("access").into(),
        refresh_token: tokens["refresh_token"].as_str().expect("refresh").into(),
        session_id: tokens["session_id"].as_str().expect("session").into(),
        authenticator,
    }
}

/// A user made directly in the database, with an app session.
pub struct User {
    pub id: String,
    pub token: String,
}

/// Creates `n` active users of `role`, each with an app session, in
/// transactions of 100 (what an accepted invitation ends with).
pub async fn create_users(services: &Services, role: Role, n: usize) -> Result<Vec<User>> {
    let mut made = Vec::with_capacity(n);
    while made.len() < n {
        let chunk = (n - made.len()).min(100);
        let config = Arc::clone(&services.config);
        let now = services.clock.now();
        let users = services
            .db
            .write(move |conn| {
                let mut users = Vec::with_capacity(chunk);
                for _ in 0..chunk {
                    let id = mystery_buyer_server::auth::new_id();
                    let volunteer = role == Role::Volunteer;
                    let name = if volunteer {
                        new_pseudonym()
                    } else {
                        format!("Bench {role}")
                    };
                    users::insert(
                        conn,
                        &UserRow {
                            id: id.clone(),
                            role: role.as_str().into(),
                            status: "active".into(),
                            pseudonym: volunteer.then(|| name.clone()),
                            display_name: name,
                            email: (!volunteer).then(|| format!("{id}@example.org")),
                            created_at: to_micros(now),
                            updated_at: to_micros(now),
                        },
                    )?;
                    let Issued::App(tokens) = sessions::issue(
                        conn,
                        &config,
                        now,
                        &id,
                        role,
                        None,
                        SessionKind::App,
                        "bench phone",
                    )?
                    else {
                        return Err(ApiError::Internal("expected an app session".into()));
                    };
                    users.push(User {
                        id,
                        token: tokens.access_token,
                    });
                }
                Ok::<_, ApiError>(users)
            })
            .await
            .map_err(|e| anyhow::anyhow!("creating users: {e}"))?;
        made.extend(users);
    }
    Ok(made)
}
