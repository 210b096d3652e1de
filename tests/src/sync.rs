//! Sync clients for tests: a [`Device`] is a `sync-protocol` client replica
//! talking HTTP to the real server, the way an app would.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sync_protocol::{
    Mutation,
    replica::Replica,
    wire::{DeviceRegistered, PullResponse, PushResponse},
};

use crate::{
    TestServer,
    people::{Person, post},
};

/// A new client-made id (UUIDv7, as apps make them).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// One app install of a volunteer or a relay station's scanner.
pub struct Device {
    pub replica: Replica,
    pub token: String,
    /// How far this device's clock is off (added to the time it is given).
    pub skew_us: i64,
}

impl Device {
    /// Registers a device for `person` (a volunteer or a relay operator).
    pub async fn register(server: &TestServer, person: &Person, name: &str) -> Self {
        let (status, body) = post(
            server,
            "/api/sync/devices",
            Some(&person.access_token),
            json!({ "name": name }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let registered: DeviceRegistered = serde_json::from_value(body).expect("DeviceRegistered");
        Self {
            replica: Replica::new(&registered),
            token: person.access_token.clone(),
            skew_us: 0,
        }
    }

    /// The device's own clock at true time `now_us`.
    pub fn clock(&self, now_us: i64) -> i64 {
        now_us + self.skew_us
    }

    /// Makes a change on the device (offline is fine).
    pub fn mutate(&mut self, now_us: i64, mutation: Mutation) -> u64 {
        let at = self.clock(now_us);
        self.replica
            .mutate(at, mutation)
            .expect("the replica accepts the mutation")
    }

    /// Sends one batch of at most `max` mutations; `None` when none wait.
    pub async fn push_once(
        &mut self,
        server: &TestServer,
        now_us: i64,
        max: usize,
    ) -> Option<PushResponse> {
        self.try_push_once(server, now_us, max)
            .await
            // `{e:?}` keeps the cause: reqwest's own text says only "error
            // decoding response body" whether the body broke off or was
            // not JSON.
            .unwrap_or_else(|e| panic!("push: {e:?}"))
    }

    /// As [`Device::push_once`], but a push that gets no answer (the
    /// server died, the connection broke) is an `Err` and changes nothing
    /// on the device, as on a phone that lost its connection: the batch
    /// goes again next time.
    pub async fn try_push_once(
        &mut self,
        server: &TestServer,
        now_us: i64,
        max: usize,
    ) -> Result<Option<PushResponse>, reqwest::Error> {
        let Some(request) = self.replica.push_request(self.clock(now_us), max) else {
            return Ok(None);
        };
        let response = server
            .http
            .post(server.url("/api/sync/push"))
            .bearer_auth(&self.token)
            .json(&request)
            .send()
            .await?;
        let (status, body) = json_answer("push", response).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer: PushResponse = serde_json::from_value(body).expect("PushResponse");
        self.replica.on_push_response(&answer);
        Ok(Some(answer))
    }

    /// Pushes everything waiting, in batches of 50; returns the answers.
    pub async fn push(&mut self, server: &TestServer, now_us: i64) -> Vec<PushResponse> {
        let mut answers = Vec::new();
        while let Some(answer) = self.push_once(server, now_us, 50).await {
            let stopped = answer.stopped.is_some();
            answers.push(answer);
            if stopped {
                break;
            }
        }
        answers
    }

    /// One page of a pull.
    pub async fn pull_page(&mut self, server: &TestServer, limit: Option<usize>) -> PullResponse {
        self.pull_page_json(server, limit).await.0
    }

    /// Pulls until nothing more waits; returns every change as the server
    /// sent it (JSON, before decoding drops a field the records lack).
    pub async fn pull_json(&mut self, server: &TestServer) -> Vec<Value> {
        let mut changes = Vec::new();
        loop {
            let (page, body) = self.pull_page_json(server, None).await;
            changes.extend(body["changes"].as_array().cloned().unwrap_or_default());
            if !page.more {
                return changes;
            }
        }
    }

    /// One page of a pull, decoded and as sent.
    pub async fn pull_page_json(
        &mut self,
        server: &TestServer,
        limit: Option<usize>,
    ) -> (PullResponse, Value) {
        let mut query = vec![("device_id", self.replica.device_id().to_owned())];
        if let Some(cursor) = self.replica.cursor() {
            query.push(("cursor", cursor.to_owned()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        let response = server
            .http
            .get(server.url("/api/sync/pull"))
            .bearer_auth(&self.token)
            .query(&query)
            .send()
            .await
            .expect("pull sent");
        let (status, body) = json_answer("pull", response)
            .await
            .unwrap_or_else(|e| panic!("pull: {e:?}"));
        assert_eq!(status, StatusCode::OK, "{body}");
        let page: PullResponse = serde_json::from_value(body.clone()).expect("PullResponse");
        self.replica.on_pull_response(&page);
        (page, body)
    }

    /// Pulls until nothing more waits; returns the number of pages.
    pub async fn pull(&mut self, server: &TestServer) -> usize {
        let mut pages = 1;
        while self.pull_page(server, None).await.more {
            pages += 1;
        }
        pages
    }

    /// Push, then pull.
    pub async fn sync(&mut self, server: &TestServer, now_us: i64) {
        self.push(server, now_us).await;
        self.pull(server).await;
    }
}

/// The status and JSON body of an answer. A body that breaks off is an
/// `Err`; one that arrives whole but is not JSON fails the test with the
/// status and the text, so a failure says which of the two it was.
async fn json_answer(
    what: &str,
    response: reqwest::Response,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await?;
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{what} answered {status} with a body that is not JSON ({e}); headers {headers:?}, body {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Ok((status, body))
}

/// A coordinator creates a task for `volunteer_id`; returns the task id.
pub async fn create_task(
    server: &TestServer,
    coordinator: &Person,
    volunteer_id: &str,
    title: &str,
) -> String {
    let (status, body) = post(
        server,
        "/api/tasks",
        Some(&coordinator.access_token),
        json!({
            "volunteer_id": volunteer_id,
            "title": title,
            "instructions": "Buy the cheapest variant; pay by card.",
            "listing_url": "https://shop.example/listing/123",
            "shop_name": "Example Flagship Store",
            "platform": "example-mall",
            "category": "power strips",
            "price_cap": { "minor": 5000, "currency": "CNY" },
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("task id").to_owned()
}
