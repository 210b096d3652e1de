//! Passkeys, invitations, recovery, sessions, roles and personal data, over
//! HTTP with a software authenticator.

use chrono::Duration;
use mystery_buyer_server::{auth::Role, clock::ManualClock};
use mystery_buyer_tests::{
    Backend, TestEnv, on_each_backend,
    people::{
        accept_invitation, finish_sign_in, get, invite_directly, origin, person, post,
        register_credential, send, sign_in_credential,
    },
    unique,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

fn clock() -> ManualClock {
    mystery_buyer_tests::manual_clock()
}

on_each_backend! {
    async fn an_invitee_registers_a_passkey_signs_in_and_manages_passkeys(backend: Backend) {
        let env = TestEnv::new(backend);
        let server = env.start().await;
        let admin = person(&server, &env, Role::Administrator).await;

        // The administrator invites a coordinator over HTTP.
        let email = format!("{}@example.org", unique("coord"));
        let (status, created) = post(&server, "/api/invitations", Some(&admin.access_token),
            json!({ "role": "coordinator", "email": email, "display_name": "Cora" })).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert!(created.get("link").is_none() && created.get("token").is_none(), "the link goes to the invitee only");
        // The link itself is in the mail (the outbox folder, or SMTP).
        let token = invite_directly(&env, Role::Coordinator, &format!("{}@example.org", unique("c2"))).await;

        // The invitee registers, signs in again, and sees themselves.
        let mut phone = SoftPasskey::new(true);
        let (status, tokens) = accept_invitation(&server, &env, &token, &mut phone, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["role"], "coordinator");
        let user_id = tokens["user_id"].as_str().expect("user").to_string();
        let (ceremony, credential) = sign_in_credential(&server, &origin(&env), &user_id, &mut phone).await;
        let (status, session) = finish_sign_in(&server, &ceremony, &credential).await;
        assert_eq!(status, StatusCode::OK, "{session}");
        let access = session["access_token"].as_str().expect("access").to_string();
        let (status, me) = get(&server, "/api/me", Some(&access)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["role"], "coordinator");
        assert_eq!(me["user_id"], user_id.as_str());

        // A second passkey, then the first removed: its sessions end.
        let mut laptop = SoftPasskey::new(true);
        let (ceremony, credential) = {
            let response = server.http.post(server.url("/api/me/passkeys")).bearer_auth(&access).send().await.expect("send");
            let started: Value = response.json().await.expect("json");
            let options = serde_json::from_value(started["public_key"].clone()).expect("options");
            let credential = webauthn_authenticator_rs::WebauthnAuthenticator::do_registration(&mut laptop, origin(&env), options).expect("registers");
            (started["ceremony_id"].as_str().expect("id").to_string(), serde_json::to_value(credential).expect("json"))
        };
        let (status, added) = post(&server, "/api/me/passkeys/finish", Some(&access),
            json!({ "ceremony_id": ceremony, "credential": credential, "name": "laptop" })).await;
        assert_eq!(status, StatusCode::OK, "{added}");
        let (_, keys) = get(&server, "/api/me/passkeys", Some(&access)).await;
        let keys = keys.as_array().expect("list").clone();
        assert_eq!(keys.len(), 2);
        let first = keys[0]["id"].as_str().expect("id").to_string();

        // Sign in with the laptop, remove the phone's passkey from there.
        let (ceremony, credential) = sign_in_credential(&server, &origin(&env), &user_id, &mut laptop).await;
        let (status, laptop_session) = finish_sign_in(&server, &ceremony, &credential).await;
        assert_eq!(status, StatusCode::OK, "{laptop_session}");
        let laptop_access = laptop_session["access_token"].as_str().expect("access").to_string();
        let response = server.http.delete(server.url(&format!("/api/me/passkeys/{first}")))
            .bearer_auth(&laptop_access).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let (status, _) = get(&server, "/api/me", Some(&access)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "sessions of the removed passkey end");
        let (status, _) = get(&server, "/api/me", Some(&laptop_access)).await;
        assert_eq!(status, StatusCode::OK, "the laptop's session lives on");
        server.stop().await;
    }
}

on_each_backend! {
    async fn ceremonies_are_used_once_expire_and_check_the_origin(backend: Backend) {
        let env = TestEnv::new(backend);
        let clock = clock();
        let server = env.start_with_clock(clock.clone()).await;
        let mut admin = person(&server, &env, Role::Administrator).await;

        // Finished twice: the second finish fails.
        let (ceremony, credential) = sign_in_credential(&server, &origin(&env), &admin.user_id, &mut admin.authenticator).await;
        let (status, _) = finish_sign_in(&server, &ceremony, &credential).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = finish_sign_in(&server, &ceremony, &credential).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["code"], "ceremony_unknown");

        // Expired: started, then six minutes pass.
        let (ceremony, credential) = sign_in_credential(&server, &origin(&env), &admin.user_id, &mut admin.authenticator).await;
        clock.advance(Duration::minutes(6));
        let (status, body) = finish_sign_in(&server, &ceremony, &credential).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["code"], "ceremony_unknown");

        // An origin this server does not allow: an instance that only
        // allows another origin refuses what the authenticator signed for ours.
        let mut other = TestEnv::with(backend, &[]);
        other.config = env.config.clone();
        other.config.public_origin = "http://localhost:9999".into();
        let elsewhere = other.start().await;
        let (ceremony, credential) = sign_in_credential(&elsewhere, &origin(&env), &admin.user_id, &mut admin.authenticator).await;
        let (status, body) = finish_sign_in(&elsewhere, &ceremony, &credential).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        elsewhere.stop().await;
        server.stop().await;
    }
}

on_each_backend! {
    async fn a_cloned_authenticator_whose_counter_goes_back_is_refused(backend: Backend) {
        let env = TestEnv::new(backend);
        let server = env.start().await;
        let mut admin = person(&server, &env, Role::Administrator).await;
        let o = origin(&env);
        // An assertion made now (counter n) but held back, as a clone would.
        let (held_ceremony, held) = sign_in_credential(&server, &o, &admin.user_id, &mut admin.authenticator).await;
        // The real device signs in later with a higher counter.
        let (ceremony, credential) = sign_in_credential(&server, &o, &admin.user_id, &mut admin.authenticator).await;
        let (status, _) = finish_sign_in(&server, &ceremony, &credential).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = finish_sign_in(&server, &held_ceremony, &held).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], "passkey_counter_regressed");
        server.stop().await;
    }
}

#[tokio::test]
async fn a_ceremony_started_on_one_instance_finishes_on_another() {
    #[cfg(feature = "services")]
    let backend = Backend::PostgresGarage;
    #[cfg(not(feature = "services"))]
    let backend = Backend::SqliteFs;
    let env = TestEnv::new(backend);
    let first = env.start().await;
    let second = env.start().await;
    let mut admin = person(&first, &env, Role::Administrator).await;
    let (ceremony, credential) = sign_in_credential(
        &first,
        &origin(&env),
        &admin.user_id,
        &mut admin.authenticator,
    )
    .await;
    let (status, body) = finish_sign_in(&second, &ceremony, &credential).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = get(&first, "/api/me", body["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK);
    first.stop().await;
    second.stop().await;
}

on_each_backend! {
    async fn refresh_tokens_rotate_tolerate_a_lost_answer_and_detect_reuse(backend: Backend) {
        let env = TestEnv::new(backend);
        let clock = clock();
        let server = env.start_with_clock(clock.clone()).await;
        let person = person(&server, &env, Role::Volunteer).await;
        let refresh = |token: String| {
            let server = &server;
            async move { post(server, "/api/auth/token", None, json!({ "refresh_token": token })).await }
        };
        let (status, second) = refresh(person.refresh_token.clone()).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_ne!(second["refresh_token"], person.refresh_token.as_str());
        // The answer was lost: the same old token within the grace window
        // gets the same successor.
        clock.advance(Duration::seconds(10));
        let (status, again) = refresh(person.refresh_token.clone()).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["refresh_token"], second["refresh_token"]);
        let access = again["access_token"].as_str().expect("access").to_string();
        let (status, _) = get(&server, "/api/me", Some(&access)).await;
        assert_eq!(status, StatusCode::OK);
        // The successor rotates on.
        let (status, third) = refresh(second["refresh_token"].as_str().expect("t").into()).await;
        assert_eq!(status, StatusCode::OK, "{third}");
        // Access tokens expire after their minutes.
        clock.advance(Duration::minutes(11));
        let (status, _) = get(&server, "/api/me", third["access_token"].as_str()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // The first token again, long after: theft. The whole family ends.
        let (status, body) = refresh(person.refresh_token.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], "refresh_token_reused");
        let (status, _) = refresh(third["refresh_token"].as_str().expect("t").into()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the newest token died with its family");
        server.stop().await;
    }
}

on_each_backend! {
    async fn disabling_a_user_ends_their_sessions_at_once(backend: Backend) {
        let env = TestEnv::new(backend);
        let server = env.start().await;
        let admin = person(&server, &env, Role::Administrator).await;
        let volunteer = person(&server, &env, Role::Volunteer).await;
        let (status, _) = get(&server, "/api/me", Some(&volunteer.access_token)).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = post(&server, &format!("/api/users/{}/disable", volunteer.user_id), Some(&admin.access_token), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "disabled");
        let (status, devices) = get(&server, &format!("/api/users/{}/devices", volunteer.user_id), Some(&admin.access_token)).await;
        assert_eq!(status, StatusCode::OK, "{devices}");
        let devices = devices.as_array().expect("list").clone();
        assert_eq!(devices.len(), 1);
        assert!(devices[0]["revoked_at"].is_string(), "{devices:?}");
        let (status, users) = get(&server, "/api/users?role=volunteer", Some(&admin.access_token)).await;
        assert_eq!(status, StatusCode::OK, "{users}");
        assert!(users.as_array().expect("list").iter().any(|u| u["id"] == volunteer.user_id.as_str() && u["status"] == "disabled"));
        let (status, _) = get(&server, "/api/users?limit=100000", Some(&admin.access_token)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = get(&server, "/api/me", Some(&volunteer.access_token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = post(&server, "/api/auth/token", None, json!({ "refresh_token": volunteer.refresh_token })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = post(&server, &format!("/api/users/{}/enable", volunteer.user_id), Some(&admin.access_token), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "active");
        server.stop().await;
    }
}

on_each_backend! {
    async fn invitation_links_are_single_use_expire_and_fix_the_role(backend: Backend) {
        let env = TestEnv::new(backend);
        let clock = clock();
        let server = env.start_with_clock(clock.clone()).await;
        let email = format!("{}@example.org", unique("v"));
        let token = invite_directly(&env, Role::Volunteer, &email).await;
        // Showing the link uses nothing up.
        for _ in 0..2 {
            let (status, view) = get(&server, &format!("/api/auth/invitations/{token}"), None).await;
            assert_eq!(status, StatusCode::OK, "{view}");
            assert_eq!(view["role"], "volunteer");
        }
        // The role cannot be chosen by the invitee.
        let mut phone = SoftPasskey::new(true);
        let (status, body) = accept_invitation(&server, &env, &token, &mut phone, json!({ "role": "administrator" })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, tokens) = accept_invitation(&server, &env, &token, &mut phone,
            json!({ "personal": { "legal_name": "Vera Volunteer", "phone": "+43 1 234" } })).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["role"], "volunteer");
        let (_, me) = get(&server, "/api/me", tokens["access_token"].as_str()).await;
        assert!(me["pseudonym"].as_str().is_some_and(|p| p.starts_with("vol-")), "{me}");
        assert!(me.get("email").is_none(), "a volunteer's own view holds no personal data: {me}");
        // Used: both showing and starting refuse.
        let (status, body) = get(&server, &format!("/api/auth/invitations/{token}"), None).await;
        assert_eq!(status, StatusCode::GONE, "{body}");
        assert_eq!(body["code"], "link_used");
        let (status, _) = post(&server, &format!("/api/auth/invitations/{token}/passkey"), None, json!({})).await;
        assert_eq!(status, StatusCode::GONE);
        // Expired.
        let late = invite_directly(&env, Role::Coordinator, &format!("{}@example.org", unique("c"))).await;
        clock.advance(Duration::hours(169));
        let (status, body) = get(&server, &format!("/api/auth/invitations/{late}"), None).await;
        assert_eq!(status, StatusCode::GONE, "{body}");
        assert_eq!(body["code"], "link_expired");
        let (status, _) = get(&server, "/api/auth/invitations/0000", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        server.stop().await;
    }
}

on_each_backend! {
    async fn only_administrators_read_personal_data_and_each_read_is_audited(backend: Backend) {
        let env = TestEnv::new(backend);
        let server = env.start().await;
        let admin = person(&server, &env, Role::Administrator).await;
        let coordinator = person(&server, &env, Role::Coordinator).await;
        let volunteer = person(&server, &env, Role::Volunteer).await;
        let path = format!("/api/users/{}/personal-data", volunteer.user_id);
        let (status, _) = get(&server, &path, Some(&coordinator.access_token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, data) = get(&server, &path, Some(&admin.access_token)).await;
        assert_eq!(status, StatusCode::OK, "{data}");
        assert!(data["email"].as_str().is_some_and(|e| e.ends_with("@example.org")));
        // Coordinators see pseudonyms only.
        let (status, list) = get(&server, "/api/volunteers", Some(&coordinator.access_token)).await;
        assert_eq!(status, StatusCode::OK);
        let text = list.to_string();
        assert!(!text.contains("@example.org"), "{text}");
        assert!(text.contains("vol-"), "{text}");
        let db = env.database().await;
        let id = volunteer.user_id.clone();
        let audit = db
            .read(move |conn| mystery_buyer_server::db::identity::audit_of(conn, "user", &id).map_err(mystery_buyer_server::db::DbError::from))
            .await
            .expect("audit");
        let reads: Vec<_> = audit.iter().filter(|a| a.action == "personal_data.read").collect();
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].actor_user_id.as_deref(), Some(admin.user_id.as_str()));
        server.stop().await;
    }
}

on_each_backend! {
async fn recovery_answers_alike_is_single_use_and_expires(backend: Backend) {
    let env = TestEnv::new(backend);
    let clock = clock();
    let server = env.start_with_clock(clock.clone()).await;
    let admin = person(&server, &env, Role::Administrator).await;
    let (_, me) = get(&server, "/api/me", Some(&admin.access_token)).await;
    let email = me["email"].as_str().expect("staff email").to_string();
    let (known_status, known) = post(
        &server,
        "/api/auth/recovery",
        None,
        json!({ "email": email }),
    )
    .await;
    let (unknown_status, unknown) = post(
        &server,
        "/api/auth/recovery",
        None,
        json!({ "email": "nobody@example.org" }),
    )
    .await;
    assert_eq!(known_status, StatusCode::ACCEPTED);
    assert_eq!(
        (known_status, known),
        (unknown_status, unknown),
        "the same answer either way"
    );

    // The link from the mail (written to the outbox folder here).
    let link = mystery_buyer_tests::eventually(
        std::time::Duration::from_secs(20),
        "the recovery mail",
        || {
            let dir = env.config.outbox_dir();
            async move {
                std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
                    // Undo quoted-printable soft line breaks.
                    let text = std::fs::read_to_string(entry.path())
                        .ok()?
                        .replace("=\r\n", "")
                        .replace("=\n", "");
                    let start = text.find("/recover/")?;
                    let rest = &text[start + "/recover/".len()..];
                    Some(
                        rest.chars()
                            .take_while(|c| c.is_ascii_hexdigit())
                            .collect::<String>(),
                    )
                })
            }
        },
    )
    .await
    .expect("mail written");
    for _ in 0..2 {
        let (status, _) = get(&server, &format!("/api/auth/recovery/{link}"), None).await;
        assert_eq!(status, StatusCode::OK, "GET only shows");
    }
    let mut new_phone = SoftPasskey::new(true);
    let (ceremony, credential) = register_credential(
        &server,
        &origin(&env),
        &format!("/api/auth/recovery/{link}/passkey"),
        &mut new_phone,
    )
    .await;
    let (status, tokens) = post(
        &server,
        "/api/auth/passkey/finish",
        None,
        json!({ "ceremony_id": ceremony, "credential": credential, "device_name": "new phone" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["user_id"], admin.user_id.as_str());
    let (status, body) = post(
        &server,
        &format!("/api/auth/recovery/{link}/passkey"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::GONE, "{body}");

    // A second link expires after 15 minutes.
    post(
        &server,
        "/api/auth/recovery",
        None,
        json!({ "email": me["email"] }),
    )
    .await;
    clock.advance(Duration::minutes(16));
    let db = env.database().await;
    let expired = db
        .read(|conn| {
            use diesel::prelude::*;
            use mystery_buyer_server::db::{Conn, schema::recovery_links::dsl::*};
            match conn {
                Conn::Sqlite(c) => recovery_links
                    .filter(used_at.is_null())
                    .select(token_hash)
                    .load::<String>(&mut **c),
                Conn::Pg(c) => recovery_links
                    .filter(used_at.is_null())
                    .select(token_hash)
                    .load::<String>(&mut **c),
            }
            .map_err(mystery_buyer_server::db::DbError::from)
        })
        .await
        .expect("links");
    assert_eq!(expired.len(), 1, "one unused link is left");
    let second = mystery_buyer_tests::eventually(std::time::Duration::from_secs(20), "the second recovery mail", || {
        let dir = env.config.outbox_dir();
        let used = link.clone();
        async move {
            std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
                let text = std::fs::read_to_string(entry.path()).ok()?;
                mystery_buyer_tests::link_token_in(&text, "recover").filter(|t| *t != used)
            })
        }
    })
    .await
    .expect("second mail written");
    let (status, body) = get(&server, &format!("/api/auth/recovery/{second}"), None).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["code"], "link_expired");
    server.stop().await;
}
}

on_each_backend! {
async fn rate_limits_trigger_and_recover(backend: Backend) {
    let env = TestEnv::with(
        backend,
        &[("MB_RATE_LIMIT_ACCOUNT_PER_MINUTE", "3")],
    );
    let clock = clock();
    let server = env.start_with_clock(clock.clone()).await;
    let ask = || {
        post(
            &server,
            "/api/auth/recovery",
            None,
            json!({ "email": "someone@example.org" }),
        )
    };
    for _ in 0..3 {
        assert_eq!(ask().await.0, StatusCode::ACCEPTED);
    }
    let response = server
        .http
        .post(server.url("/api/auth/recovery"))
        .json(&json!({ "email": "someone@example.org" }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "rate_limited");
    // Another account is not affected; the limit lifts with the next minute.
    assert_eq!(
        post(
            &server,
            "/api/auth/recovery",
            None,
            json!({ "email": "other@example.org" })
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    clock.advance(Duration::seconds(61));
    assert_eq!(ask().await.0, StatusCode::ACCEPTED);
    server.stop().await;
}
}

on_each_backend! {
async fn a_browser_session_is_a_cookie_and_state_changes_need_the_csrf_token(backend: Backend) {
    let env = TestEnv::new(backend);
    let server = env.start().await;
    let mut admin = person(&server, &env, Role::Administrator).await;
    let (ceremony, credential) = sign_in_credential(
        &server,
        &origin(&env),
        &admin.user_id,
        &mut admin.authenticator,
    )
    .await;
    let response = server.http.post(server.url("/api/auth/sign-in/finish"))
        .json(&json!({ "ceremony_id": ceremony, "credential": credential, "device_name": "browser", "session": "browser" }))
        .send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("mb_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let body: Value = response.json().await.expect("json");
    assert!(body.get("access_token").is_none());
    let csrf = body["csrf_token"].as_str().expect("csrf").to_string();
    let cookie = session.split(';').next().expect("pair").to_string();
    let me = server
        .http
        .get(server.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(me.status(), StatusCode::OK);
    let without = server
        .http
        .post(server.url("/api/auth/sign-out"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let with = server
        .http
        .post(server.url("/api/auth/sign-out"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("send");
    assert_eq!(with.status(), StatusCode::NO_CONTENT);
    let after = server
        .http
        .get(server.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}
}

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    AnyUser,
    /// Only these roles; the others get 403, no session gets 401.
    Roles(&'static [Role]),
}

/// The access table of `security.md`, route by route. A route missing here
/// fails the matrix test, so every new route must be placed in it.
fn access(method: &str, path: &str) -> Option<Access> {
    use Access::*;
    const ADMIN: &[Role] = &[Role::Administrator];
    const STAFF_INVITERS: &[Role] = &[Role::Administrator, Role::Coordinator];
    const VOLUNTEER: &[Role] = &[Role::Volunteer];
    const COORDINATOR: &[Role] = &[Role::Coordinator];
    const SYNCING: &[Role] = &[Role::Volunteer, Role::RelayOperator];
    const AUDITORS: &[Role] = &[Role::Coordinator, Role::Administrator];
    const RELAY: &[Role] = &[Role::RelayOperator];
    const LAB: &[Role] = &[Role::LabInspector];
    Some(match (method, path) {
        ("get", "/healthz" | "/readyz" | "/metrics" | "/api/openapi.json") => Public,
        ("post", "/api/auth/sign-out") => AnyUser,
        (_, p) if p.starts_with("/api/auth/") => Public,
        ("get", "/api/me") => AnyUser,
        ("get" | "post", "/api/me/passkeys") => AnyUser,
        ("post", "/api/me/passkeys/finish") => AnyUser,
        ("delete", "/api/me/passkeys/{id}") => AnyUser,
        ("post", "/api/invitations") => Roles(STAFF_INVITERS),
        ("get", "/api/volunteers") => Roles(STAFF_INVITERS),
        ("get", "/api/users") => Roles(ADMIN),
        ("get", "/api/users/{id}/personal-data" | "/api/users/{id}/devices") => Roles(ADMIN),
        ("post", "/api/users/{id}/disable" | "/api/users/{id}/enable") => Roles(ADMIN),
        ("delete", "/api/devices/{id}") => Roles(ADMIN),
        ("get", "/api/users/{id}" | "/api/users/{id}/passkeys") => Roles(ADMIN),
        ("delete", "/api/users/{id}/passkeys/{passkey_id}") => Roles(ADMIN),
        // Volunteers' phones and relay stations' scanners sync.
        ("post", "/api/sync/devices" | "/api/sync/push") => Roles(SYNCING),
        ("get", "/api/sync/pull" | "/api/sync/events") => Roles(SYNCING),
        ("get" | "post", "/api/tasks") => Roles(COORDINATOR),
        ("get" | "patch", "/api/tasks/{id}") => Roles(COORDINATOR),
        (
            "post",
            "/api/tasks/{id}/cancel" | "/api/tasks/{id}/reopen" | "/api/tasks/{id}/reassign",
        ) => Roles(COORDINATOR),
        ("get", "/api/reviews") => Roles(COORDINATOR),
        ("post", "/api/reviews/{id}/resolve") => Roles(COORDINATOR),
        ("get", "/api/categories") => AnyUser,
        ("post", "/api/categories") => Roles(COORDINATOR),
        ("get" | "post", "/api/campaigns") => Roles(COORDINATOR),
        ("get" | "patch", "/api/campaigns/{id}") => Roles(COORDINATOR),
        ("put", "/api/campaigns/{id}/quotas") => Roles(COORDINATOR),
        ("get" | "post", "/api/campaigns/{id}/candidates") => Roles(COORDINATOR),
        ("post", "/api/campaigns/{id}/candidates/import") => Roles(COORDINATOR),
        (
            "post",
            "/api/campaigns/{id}/assignment/preview" | "/api/campaigns/{id}/assignment/commit",
        ) => Roles(COORDINATOR),
        ("get", "/api/campaigns/{id}/board") => Roles(VOLUNTEER),
        ("get", "/api/campaigns/{id}/progress" | "/api/campaigns/{id}/finance.csv") => {
            Roles(COORDINATOR)
        }
        ("post", "/api/reimbursements/{id}/decision") => Roles(COORDINATOR),
        ("post", "/api/campaigns/{id}/board/claim") => Roles(VOLUNTEER),
        ("get" | "put", "/api/me/profile") => Roles(VOLUNTEER),
        ("get", "/api/volunteers/profiles" | "/api/volunteers/{id}/profile") => Roles(COORDINATOR),
        // Anyone signed in may upload (volunteers' evidence, later station
        // photos and lab reports); an upload is visible to its owner only.
        ("post", "/api/uploads") => AnyUser,
        ("get", "/api/tasks/{id}/evidence") => Roles(STAFF_INVITERS),
        // Served to staff and the volunteer who recorded it; 404 to others.
        ("get", "/api/evidence/{id}/file" | "/api/evidence/{id}/thumbnail") => AnyUser,
        // Staff and the stations that took them; 404 to others.
        ("get", "/api/station-photos/{id}/file" | "/api/station-photos/{id}/thumbnail") => AnyUser,
        // Stations and labs as data: staff read them, administrators keep them.
        ("get", "/api/stations" | "/api/stations/{id}" | "/api/labs" | "/api/labs/{id}") => {
            Roles(STAFF_INVITERS)
        }
        ("post", "/api/stations" | "/api/labs") => Roles(ADMIN),
        ("patch", "/api/stations/{id}" | "/api/labs/{id}") => Roles(ADMIN),
        // A station's own work is its operators'; a lab's its inspectors'
        // (others of the same role are told the place does not exist).
        (_, p) if p.starts_with("/api/stations/{id}/") => Roles(RELAY),
        (_, p) if p.starts_with("/api/labs/{id}/") => Roles(LAB),
        (
            "get",
            "/api/tasks/{id}/parcel"
            | "/api/tasks/{id}/report"
            | "/api/campaigns/{id}/parcels"
            | "/api/campaigns/{id}/exceptions"
            | "/api/campaigns/{id}/results.csv",
        ) => Roles(COORDINATOR),
        (
            "post",
            "/api/tasks/{id}/exceptions"
            | "/api/exceptions/{id}/resolve"
            | "/api/tasks/{id}/result/publish",
        ) => Roles(COORDINATOR),
        (
            "get",
            "/api/tasks/{id}/custody" | "/api/samples/{code}/custody" | "/api/custody/checkpoint",
        ) => Roles(AUDITORS),
        _ => return None,
    })
}

on_each_backend! {
/// Every route of the OpenAPI document, called without a session and as
/// each role, answers as the access table says (and never with a 5xx).
async fn every_route_answers_each_role_as_the_access_table_says(backend: Backend) {
    // With a custody key, as in production: without one the custody routes
    // answer 503 to everyone, which says nothing about who may call them.
    let env = TestEnv::with(
        backend,
        &[
            ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
            ("MB_CUSTODY_SIGNING_KEY", crate::e2e::logistics::SIGNING_SEED),
        ],
    );
    let server = env.start().await;
    let mut people = Vec::new();
    for role in Role::ALL {
        people.push(person(&server, &env, role).await);
    }
    let (_, document) = get(&server, "/api/openapi.json", None).await;
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.push((method.to_string(), path.clone()));
            }
        }
    }
    // Signing out ends the session the other calls use: last.
    routes.sort_by_key(|(_, path)| path == "/api/auth/sign-out");
    assert!(routes.len() >= 20, "{routes:?}");
    let mut missing = Vec::new();
    for (method, path) in &routes {
        let Some(rule) = access(method, path) else {
            missing.push(format!("{method} {path}"));
            continue;
        };
        let concrete = path
            .replace("{id}", &uuid::Uuid::new_v4().to_string())
            .replace("{token}", &"0".repeat(64));
        let callers: Vec<(Option<Role>, Option<&str>)> = std::iter::once((None, None))
            .chain(
                people
                    .iter()
                    .map(|p| (Some(p.role), Some(p.access_token.as_str()))),
            )
            .collect();
        for (role, token) in callers {
            let mut request = server.http.request(
                method.to_uppercase().parse().expect("method"),
                server.url(&concrete),
            );
            if method != "get" && method != "delete" {
                request = request.json(&json!({}));
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let status = request.send().await.expect("send").status();
            let who = role.map_or("no session".to_string(), |r| r.to_string());
            assert!(status.as_u16() < 500, "{method} {path} as {who}: {status}");
            match (rule, role) {
                (Access::Public, _) => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} as {who}: {status}"
                ),
                (_, None) => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} as {who}")
                }
                (Access::AnyUser, Some(_)) => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} as {who}: {status}"
                ),
                (Access::Roles(allowed), Some(role)) if allowed.contains(&role) => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} as {who}: {status}"
                ),
                (Access::Roles(_), Some(_)) => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {who}")
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the access table: {missing:?}"
    );
    server.stop().await;
}
}

#[cfg(feature = "services")]
#[tokio::test]
async fn invitation_and_recovery_mails_arrive_at_the_smtp_server_and_work() {
    use mystery_buyer_tests::{link_token_in, service_var, wait_for_mail_to};
    let smtp = service_var("MB_TEST_SMTP_URL");
    let env = TestEnv::with(Backend::PostgresGarage, &[("MB_SMTP_URL", &smtp)]);
    let server = env.start().await;
    let coordinator = person(&server, &env, Role::Coordinator).await;
    let email = format!("{}@example.org", unique("vol"));
    let (status, body) = post(
        &server,
        "/api/invitations",
        Some(&coordinator.access_token),
        json!({ "role": "volunteer", "email": email }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A coordinator may not invite staff.
    let (status, _) = post(
        &server,
        "/api/invitations",
        Some(&coordinator.access_token),
        json!({ "role": "administrator", "email": format!("{}@example.org", unique("x")) }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mail = wait_for_mail_to(
        &email,
        "Your invitation to Mystery Buyer",
        std::time::Duration::from_secs(30),
    )
    .await
    .expect("the invitation arrives");
    let token = link_token_in(&mail.raw, "invitations").expect("link in the mail");
    let mut phone = SoftPasskey::new(true);
    let (status, tokens) = accept_invitation(&server, &env, &token, &mut phone, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["role"], "volunteer");

    let (status, _) = post(
        &server,
        "/api/auth/recovery",
        None,
        json!({ "email": email }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mail = wait_for_mail_to(
        &email,
        "Add a new passkey to your Mystery Buyer account",
        std::time::Duration::from_secs(30),
    )
    .await
    .expect("the recovery mail arrives");
    let token = link_token_in(&mail.raw, "recover").expect("link in the mail");
    let (status, _) = get(&server, &format!("/api/auth/recovery/{token}"), None).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

/// `admin create` invites the first administrator once; `admin session`
/// issues tokens for an active user and records it.
#[tokio::test]
async fn the_admin_commands_create_the_first_administrator_and_issue_sessions() {
    let env = TestEnv::new(Backend::SqliteFs);
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(mystery_buyer_tests::binary());
        for (key, _) in std::env::vars() {
            if key.starts_with("MB_") {
                command.env_remove(key);
            }
        }
        command
            .envs(env.env_vars())
            .args(args)
            .output()
            .expect("run")
    };
    let created = run(&[
        "admin",
        "create",
        "--email",
        "Boss@Example.org",
        "--name",
        "Boss",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8_lossy(&created.stdout).to_string();
    let token = mystery_buyer_tests::link_token_in(&stdout, "invitations").expect("link printed");
    let again = run(&["admin", "create", "--email", "other@example.org"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("administrator already"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    // Not active yet: no session.
    let early = run(&[
        "admin",
        "session",
        "--email",
        "boss@example.org",
        "--device",
        "scanner",
    ]);
    assert!(!early.status.success());

    let server = env.start().await;
    let mut key = SoftPasskey::new(true);
    let (status, body) = accept_invitation(&server, &env, &token, &mut key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "administrator");
    let issued = run(&[
        "admin",
        "session",
        "--email",
        "boss@example.org",
        "--device",
        "scanner",
    ]);
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let tokens: Value = serde_json::from_slice(&issued.stdout).expect("JSON tokens");
    let (status, me) = get(&server, "/api/me", tokens["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "boss@example.org");
    let db = env.database().await;
    let session_id = tokens["session_id"].as_str().expect("session").to_string();
    let audit = db
        .read(move |conn| {
            mystery_buyer_server::db::identity::audit_of(conn, "session", &session_id)
                .map_err(mystery_buyer_server::db::DbError::from)
        })
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "session.issue_by_operator"),
        "{audit:?}"
    );
    server.stop().await;
}

/// `X-Forwarded-For` names the client only when a trusted proxy sends it.
#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let limit = [("MB_RATE_LIMIT_IP_PER_MINUTE", "2")];
    let ask = |server: &mystery_buyer_tests::TestServer, client: &str| {
        server
            .http
            .post(server.url("/api/auth/sign-in"))
            .header("x-forwarded-for", format!("203.0.113.9, {client}"))
            .json(&json!({ "email": "nobody@example.org" }))
            .send()
    };
    // Behind a trusted proxy: each forwarded client has its own budget.
    let env = TestEnv::with(
        Backend::SqliteFs,
        &[limit[0], ("MB_TRUSTED_PROXIES", "[\"127.0.0.1\"]")],
    );
    let server = env.start().await;
    for _ in 0..2 {
        assert_eq!(
            ask(&server, "198.51.100.1").await.expect("send").status(),
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        ask(&server, "198.51.100.1").await.expect("send").status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        ask(&server, "198.51.100.2").await.expect("send").status(),
        StatusCode::BAD_REQUEST
    );
    server.stop().await;
    // No trusted proxy: the header is ignored and the peer is the client.
    let env = TestEnv::with(Backend::SqliteFs, &limit);
    let server = env.start().await;
    assert_eq!(
        ask(&server, "198.51.100.1").await.expect("send").status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ask(&server, "198.51.100.2").await.expect("send").status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ask(&server, "198.51.100.3").await.expect("send").status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    server.stop().await;
}

on_each_backend! {
/// An administrator sees a user and their passkeys, and removing a lost
/// device's passkey ends the sessions opened with it at once.
async fn an_administrator_removes_a_users_passkey_and_its_sessions_end(backend: Backend) {
    let env = TestEnv::with(backend, &[("MB_RATE_LIMIT_IP_PER_MINUTE", "100000")]);
    let server = env.start().await;
    let admin = person(&server, &env, Role::Administrator).await;
    let operator = person(&server, &env, Role::RelayOperator).await;
    let token = Some(admin.access_token.as_str());
    let (status, user) = get(&server, &format!("/api/users/{}", operator.user_id), token).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!((user["role"].as_str(), user["status"].as_str()), (Some("relay_operator"), Some("active")), "{user}");
    let (status, keys) = get(&server, &format!("/api/users/{}/passkeys", operator.user_id), token).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    let passkey = keys[0]["id"].as_str().expect("id");
    let (status, _) = get(&server, "/api/me", Some(&operator.access_token)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = send(&server, reqwest::Method::DELETE, &format!("/api/users/{}/passkeys/{passkey}", operator.user_id), token, json!(null)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = get(&server, "/api/me", Some(&operator.access_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session opened with the passkey ended");
    let (_, keys) = get(&server, &format!("/api/users/{}/passkeys", operator.user_id), token).await;
    assert_eq!(keys, json!([]));
    // Gone is gone; other people's passkeys are not reached through a user.
    let (status, _) = send(&server, reqwest::Method::DELETE, &format!("/api/users/{}/passkeys/{passkey}", admin.user_id), token, json!(null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&server, &format!("/api/users/{}", uuid::Uuid::new_v4()), token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}
}
