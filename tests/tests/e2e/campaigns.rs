//! Campaigns over HTTP on both backends: a coordinator plans a campaign
//! with quotas, imports thousands of candidate listings (all or nothing,
//! with a row-by-row report), and sees volunteers' buying profiles by
//! pseudonym.

use mystery_buyer_server::auth::Role;
use mystery_buyer_tests::{
    Backend, TestEnv, TestServer, on_each_backend,
    people::{Person, get, person, post, post_bytes, send},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

const FOCUS: [&str; 10] = [
    "travel bags",
    "backpacks",
    "silk quilts",
    "induction cookers",
    "smart toilet seats",
    "leather shoes",
    "casual wear",
    "women's underwear",
    "power strips",
    "sports shoes",
];

async fn new_campaign(server: &TestServer, coordinator: &Person) -> String {
    let (status, body) = post(
        server,
        "/api/campaigns",
        Some(&coordinator.access_token),
        json!({
            "name": "Winter bedding 2026",
            "starts_at": "2026-12-01T00:00:00Z",
            "ends_at": "2027-02-28T00:00:00Z",
            "platforms": ["taobao", "jd", "pinduoduo"],
            "currency": "CNY",
            "budget": 5_000_000,
            "required_evidence": ["order_screenshot", "product_photo"],
            // Stations and labs must exist to be named (tests/e2e/logistics.rs).
            "relay_stations": [],
            "open_board": true,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_string()
}

on_each_backend! {
    async fn a_coordinator_plans_a_campaign_with_nested_quotas_over_the_focus_categories(backend: Backend) {
        let env = TestEnv::new(backend);
        let server = env.start().await;
        let coordinator = person(&server, &env, Role::Coordinator).await;
        let token = Some(coordinator.access_token.as_str());

        // The ten focus categories ship as data.
        let (status, categories) = get(&server, "/api/categories", token).await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = categories.as_array().expect("list").iter().filter_map(|c| c["name"].as_str()).collect();
        for focus in FOCUS {
            assert!(names.contains(&focus), "{focus} missing from {names:?}");
        }
        let (status, body) = post(&server, "/api/categories", token, json!({ "id": "e-bikes", "name": "e-bike batteries", "normal_price": 89_900 })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = post(&server, "/api/categories", token, json!({ "id": "e-bikes", "name": "again" })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("category_exists")));

        let id = new_campaign(&server, &coordinator).await;
        let (_, campaign) = get(&server, &format!("/api/campaigns/{id}"), token).await;
        assert_eq!(campaign["status"], "draft");
        assert_eq!(campaign["acceptance_window_hours"], 24, "default window");
        assert_eq!(campaign["required_evidence"], json!(["order_screenshot", "product_photo"]));

        // A category total with platform shares inside it, and a price cap.
        let quotas = json!([
            { "category": "silk-quilts", "target": 30, "price_cap": 150_000 },
            { "category": "silk-quilts", "platform": "taobao", "target": 12 },
            { "category": "silk-quilts", "platform": "jd", "target": 10 },
            { "category": "power-strips", "platform": "pinduoduo", "target": 20, "price_cap": 8_000 },
        ]);
        let path = format!("/api/campaigns/{id}/quotas");
        let (status, body) = send(&server, Method::PUT, &path, token, quotas).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, campaign) = get(&server, &format!("/api/campaigns/{id}"), token).await;
        assert_eq!(campaign["quotas"].as_array().map(Vec::len), Some(4), "{campaign}");
        let whole = campaign["quotas"].as_array().expect("quotas").iter()
            .find(|q| q["category"] == "silk-quilts" && q["platform"].is_null()).cloned().expect("category-wide quota");
        assert_eq!((whole["target"].as_u64(), whole["price_cap"].as_i64()), (Some(30), Some(150_000)));

        // Wrong quotas change nothing.
        for (bad, why) in [
            (json!([{ "category": "silk-quilts", "platform": "amazon", "target": 1 }]), "not one of the campaign's"),
            (json!([{ "category": "moon-rocks", "target": 1 }]), "no category"),
            (json!([{ "category": "backpacks", "target": 1 }, { "category": "backpacks", "target": 2 }]), "has a quota already"),
            (json!([{ "category": "backpacks", "target": -1 }]), ""),
        ] {
            let (status, body) = send(&server, Method::PUT, &path, token, bad).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert!(body["detail"].as_str().unwrap_or_default().contains(why), "{body}");
        }
        let (_, campaign) = get(&server, &format!("/api/campaigns/{id}"), token).await;
        assert_eq!(campaign["quotas"].as_array().map(Vec::len), Some(4));

        // A platform a quota names cannot be dropped; status moves forward only.
        let campaign_path = format!("/api/campaigns/{id}");
        let (status, body) = send(&server, Method::PATCH, &campaign_path, token, json!({ "platforms": ["taobao"] })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("platform_in_use")), "{body}");
        let (status, body) = send(&server, Method::PATCH, &campaign_path, token, json!({ "ends_at": "2026-11-01T00:00:00Z" })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "ends before it starts: {body}");
        let (status, body) = send(&server, Method::PATCH, &campaign_path, token, json!({ "status": "active", "acceptance_window_hours": 48 })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["status"].as_str(), body["acceptance_window_hours"].as_u64()), (Some("active"), Some(48)));
        let (status, body) = send(&server, Method::PATCH, &campaign_path, token, json!({ "status": "draft" })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("status_backwards")));
        let (status, list) = get(&server, "/api/campaigns?status=active", token).await;
        assert_eq!(status, StatusCode::OK);
        assert!(list.as_array().expect("list").iter().any(|c| c["id"] == id.as_str()));
        let (status, _) = get(&server, "/api/campaigns?status=sleeping", token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        server.stop().await;
    }
}

fn csv_rows(n: usize, offset: usize) -> String {
    let mut csv = String::from(
        "category,platform,listing_url,shop_id,shop_name,listed_price,price_deviation,complaints,bad_rating_share,sales_volume,claims,source\n",
    );
    for i in offset..offset + n {
        let category = ["silk-quilts", "power-strips", "backpacks"][i % 3];
        let platform = ["taobao", "jd", "pinduoduo"][i % 3];
        let claims = ["", "flash_sale", "hot_seller;super_low_price"][i % 3];
        let source = [
            "complaint",
            "platform_feed",
            "public_opinion",
            "earlier_failure",
        ][i % 4];
        csv.push_str(&format!(
            "{category},{platform},https://shop{}.example.com/item/{i},shop-{},\"Shop {}, Ltd\",{},{},{},{},{},{claims},{source}\n",
            i % 97,
            i % 97,
            i % 97,
            10_000 + i,
            -((i % 50) as f64) / 100.0,
            i % 30,
            (i % 10) as f64 / 10.0,
            i * 13,
        ));
    }
    csv
}

on_each_backend! {
    async fn thousands_of_candidates_import_whole_or_not_at_all_with_a_report_per_row(backend: Backend) {
        let env = TestEnv::new(backend);
        let server = env.start().await;
        let coordinator = person(&server, &env, Role::Coordinator).await;
        let token = Some(coordinator.access_token.as_str());
        let id = new_campaign(&server, &coordinator).await;
        let import = format!("/api/campaigns/{id}/candidates/import");

        // 3,000 rows from a spreadsheet, quoted commas included.
        let (status, body) = post_bytes(&server, &import, token, "text/csv; charset=utf-8", csv_rows(3_000, 0).into_bytes()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["imported"], 3_000);
        let (_, campaign) = get(&server, &format!("/api/campaigns/{id}"), token).await;
        assert_eq!(campaign["candidates"], 3_000);

        // A file with wrong rows: every one is reported, nothing is stored.
        let mut bad = csv_rows(500, 3_000);
        bad.push_str("moon-rocks,taobao,https://x.example.com/1,s1,S,100,,,,,,complaint\n");
        bad.push_str("backpacks,amazon,https://x.example.com/2,s1,S,100,,,,,,complaint\n");
        bad.push_str("backpacks,jd,not a url,s1,S,100,,,,,,complaint\n");
        bad.push_str("backpacks,jd,https://x.example.com/3,s1,S,ten,,,,,,complaint\n");
        bad.push_str("backpacks,jd,https://x.example.com/4,s1,S,100,,,,,teleshopping,complaint\n");
        bad.push_str("backpacks,jd,https://x.example.com/5,s1,S,100,,,1.5,,,complaint\n");
        bad.push_str("backpacks,jd,https://x.example.com/6,s1,S,100,,,,,,gossip\n");
        bad.push_str("backpacks,jd,https://shop0.example.com/item/0,s1,S,100,,,,,,complaint\n");
        bad.push_str("backpacks,jd,https://x.example.com/7,s1,S,100,,,,,,complaint\n");
        bad.push_str("backpacks,jd,https://x.example.com/7,s1,S,100,,,,,,complaint\n");
        let (status, body) = post_bytes(&server, &import, token, "text/csv", bad.into_bytes()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "invalid_rows");
        let errors = body["errors"].as_array().expect("errors");
        let rows: Vec<(u64, &str)> = errors.iter().map(|e| (e["row"].as_u64().unwrap_or(0), e["field"].as_str().unwrap_or(""))).collect();
        // The header is line 1, so the 500 good rows are lines 2..=501.
        assert_eq!(rows, vec![
            (502, "category"), (503, "platform"), (504, "listing_url"), (505, "listed_price"),
            (506, "claims"), (507, "bad_rating_share"), (508, "source"), (509, "listing_url"),
            (511, "listing_url"),
        ], "{body}");
        let (_, campaign) = get(&server, &format!("/api/campaigns/{id}"), token).await;
        assert_eq!(campaign["candidates"], 3_000, "nothing of the bad file was stored");

        // Unknown columns, other media types and bad JSON are refused whole.
        let (status, body) = post_bytes(&server, &import, token, "text/csv", b"category,colour\nbackpacks,red\n".to_vec()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["detail"].as_str().unwrap_or_default().contains("colour"), "{body}");
        let (status, _) = post_bytes(&server, &import, token, "application/vnd.ms-excel", b"PK..".to_vec()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (status, body) = post_bytes(&server, &import, token, "application/json", b"{\"not\": \"a list\"}".to_vec()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

        // JSON: an array of the same objects; a bad element is named by position.
        let listing = |n: usize| json!({
            "category": "silk-quilts", "platform": "jd", "listing_url": format!("https://j.example.com/{n}"),
            "shop_id": "j-1", "shop_name": "J", "listed_price": 52_000, "source": "complaint",
        });
        let body = json!([listing(1), { "category": "silk-quilts" }, listing(3)]);
        let (status, report) = post_bytes(&server, &import, token, "application/json", serde_json::to_vec(&body).expect("json")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
        assert_eq!(report["errors"][0]["row"], 2, "{report}");
        let body = json!([listing(1), listing(2), listing(3)]);
        let (status, report) = post_bytes(&server, &import, token, "application/json", serde_json::to_vec(&body).expect("json")).await;
        assert_eq!((status, report["imported"].as_u64()), (StatusCode::CREATED, Some(3)), "{report}");

        // One by one, with the score from the documented default weights:
        // 40 % below normal (0.8 x 25) + 10 of 20 complaints (0.5 x 20) +
        // 20 % bad ratings (0.2 x 15) + no sales + flash sale (3) + an
        // earlier failure (20) = 56.
        let (status, one) = post(&server, &format!("/api/campaigns/{id}/candidates"), token, json!({
            "category": "backpacks", "platform": "taobao", "listing_url": "https://t.example.com/bag",
            "shop_id": "t-9", "shop_name": "Bags R Us", "listed_price": 9_900, "price_deviation": -0.4,
            "complaints": 10, "bad_rating_share": 0.2, "claims": ["flash_sale"], "source": "earlier_failure",
        })).await;
        assert_eq!(status, StatusCode::CREATED, "{one}");
        assert_eq!(one["risk_score"], 56.0, "{one}");
        let (status, body) = post(&server, &format!("/api/campaigns/{id}/candidates"), token, json!({
            "category": "backpacks", "platform": "taobao", "listing_url": "https://t.example.com/bag",
            "shop_id": "t-9", "shop_name": "Bags R Us", "listed_price": 9_900, "source": "complaint",
        })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the same listing twice: {body}");

        // The list pages riskiest first, and every page follows on.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/api/campaigns/{id}/candidates?limit=500&category=backpacks&after={a}"),
                None => format!("/api/campaigns/{id}/candidates?limit=500&category=backpacks"),
            };
            let (status, page) = get(&server, &path, token).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            for c in page["candidates"].as_array().expect("candidates") {
                seen.push((c["risk_score"].as_f64().expect("score"), c["id"].as_str().expect("id").to_string()));
            }
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 1_001, "1,000 backpacks from the file and one by hand");
        assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "riskiest first");
        let ids: std::collections::BTreeSet<&String> = seen.iter().map(|(_, id)| id).collect();
        assert_eq!(ids.len(), seen.len(), "no candidate twice across pages");
        server.stop().await;
    }
}

on_each_backend! {
    async fn volunteers_keep_their_own_profile_and_coordinators_see_it_by_pseudonym(backend: Backend) {
        let env = TestEnv::new(backend);
        let server = env.start().await;
        let coordinator = person(&server, &env, Role::Coordinator).await;
        let volunteer = person(&server, &env, Role::Volunteer).await;
        let mine = Some(volunteer.access_token.as_str());
        let (status, _) = get(&server, "/api/me/profile", mine).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "no profile yet");
        let profile = json!({
            "region": "Zhejiang", "categories": ["silk-quilts", "backpacks"],
            "platforms": ["taobao", "jd"], "capacity": 2, "spending_cap": 200_000,
            "home_station": "station-hangzhou",
        });
        let (status, body) = send(&server, Method::PUT, "/api/me/profile", mine, profile.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "active");
        assert_eq!(body["record"], json!({ "done": 0, "open": 0, "late": 0, "rejected": 0 }));
        for (bad, field) in [
            (json!({ "categories": ["moon-rocks"] }), "category"),
            (json!({ "platforms": ["Tao Bao"] }), "platform"),
            (json!({ "capacity": 500 }), "capacity"),
            (json!({ "spending_cap": -1 }), "spending_cap"),
            (json!({ "region": "" }), "region"),
        ] {
            let mut body = profile.clone();
            for (k, v) in bad.as_object().expect("object") {
                body[k] = v.clone();
            }
            let (status, answer) = send(&server, Method::PUT, "/api/me/profile", mine, body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
            assert!(answer["detail"].as_str().unwrap_or_default().contains(field), "{answer}");
        }
        let (status, body) = send(&server, Method::PUT, "/api/me/profile", mine,
            json!({ "region": "Zhejiang", "categories": ["backpacks"], "platforms": ["taobao"], "capacity": 1, "spending_cap": 50_000, "status": "paused" })).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let staff = Some(coordinator.access_token.as_str());
        let (status, list) = get(&server, "/api/volunteers/profiles", staff).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let entry = list.as_array().expect("list").iter().find(|p| p["volunteer_id"] == volunteer.user_id.as_str()).cloned().expect("listed");
        assert!(entry["pseudonym"].as_str().is_some_and(|p| p.starts_with("vol-")), "{entry}");
        assert_eq!((entry["status"].as_str(), entry["capacity"].as_u64()), (Some("paused"), Some(1)));
        let text = list.to_string();
        assert!(!text.contains("@example.org") && !text.contains("legal_name"), "no personal data: {text}");
        let (status, active) = get(&server, "/api/volunteers/profiles?status=active", staff).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!active.as_array().expect("list").iter().any(|p| p["volunteer_id"] == volunteer.user_id.as_str()));
        let (status, one) = get(&server, &format!("/api/volunteers/{}/profile", volunteer.user_id), staff).await;
        assert_eq!((status, one["region"].as_str()), (StatusCode::OK, Some("Zhejiang")));
        server.stop().await;
    }
}

async fn profile(server: &TestServer, volunteer: &Person, body: serde_json::Value) {
    let (status, answer) = send(
        server,
        Method::PUT,
        "/api/me/profile",
        Some(&volunteer.access_token),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

fn listing(
    category: &str,
    platform: &str,
    n: u32,
    shop: &str,
    price: i64,
    complaints: u32,
) -> serde_json::Value {
    json!({
        "category": category, "platform": platform,
        "listing_url": format!("https://{platform}.example.com/item/{n}"),
        "shop_id": shop, "shop_name": format!("Shop {shop}"), "listed_price": price,
        "complaints": complaints, "source": "platform_feed",
    })
}

on_each_backend! {
    async fn an_assignment_is_previewed_committed_once_and_offers_reach_devices_and_expire(backend: Backend) {
        use mystery_buyer_tests::sync::Device;
        use sync_protocol::{Kind, Record, Status};

        // Tokens outlive the day the clock jumps.
        let env = TestEnv::with(backend, &[("MB_ACCESS_TOKEN_SECS", "604800")]);
        let clock = mystery_buyer_tests::manual_clock();
        let server = env.start_with_clock(clock.clone()).await;
        let coordinator = person(&server, &env, Role::Coordinator).await;
        let token = Some(coordinator.access_token.as_str());
        let id = new_campaign(&server, &coordinator).await;
        let campaign_path = format!("/api/campaigns/{id}");
        let (status, body) = send(&server, Method::PUT, &format!("{campaign_path}/quotas"), token, json!([
            { "category": "backpacks", "platform": "taobao", "target": 2, "price_cap": 20_000 },
            { "category": "silk-quilts", "target": 1 },
        ])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Shop A has the two riskiest listings; shop B a third. The quilt
        // is on a platform and in a category nobody buys.
        let body = json!([
            listing("backpacks", "taobao", 1, "A", 15_000, 20),
            listing("backpacks", "taobao", 2, "A", 16_000, 10),
            listing("backpacks", "taobao", 3, "B", 12_000, 0),
            listing("backpacks", "taobao", 4, "C", 25_000, 20),
            listing("silk-quilts", "jd", 5, "Q", 90_000, 20),
        ]);
        let (status, report) = post_bytes(&server, &format!("{campaign_path}/candidates/import"), token, "application/json", serde_json::to_vec(&body).expect("json")).await;
        assert_eq!(status, StatusCode::CREATED, "{report}");

        let anna = person(&server, &env, Role::Volunteer).await;
        let ben = person(&server, &env, Role::Volunteer).await;
        let cleo = person(&server, &env, Role::Volunteer).await;
        for (who, capacity, status) in [(&anna, 2, "active"), (&ben, 1, "active"), (&cleo, 3, "paused")] {
            profile(&server, who, json!({
                "region": "Zhejiang", "categories": ["backpacks"], "platforms": ["taobao"],
                "capacity": capacity, "spending_cap": 50_000, "status": status,
            })).await;
        }
        let mut annas_phone = Device::register(&server, &anna, "Anna's phone").await;

        // A draft takes no commits; the preview works already.
        let preview_path = format!("{campaign_path}/assignment/preview");
        let commit_path = format!("{campaign_path}/assignment/commit");
        let (status, preview) = post(&server, &preview_path, token, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        let planned = preview["tasks"].as_array().expect("tasks").clone();
        assert_eq!(planned.len(), 2, "{preview}");
        // The two riskiest (both of shop A, so one each), never the one
        // over the quota's price cap; the paused volunteer gets nothing.
        let mut urls: Vec<&str> = planned.iter().filter_map(|t| t["listing_url"].as_str()).collect();
        urls.sort_unstable();
        assert_eq!(urls, ["https://taobao.example.com/item/1", "https://taobao.example.com/item/2"]);
        let mut takers: Vec<&str> = planned.iter().filter_map(|t| t["volunteer_id"].as_str()).collect();
        takers.sort_unstable();
        let mut expected = vec![anna.user_id.as_str(), ben.user_id.as_str()];
        expected.sort_unstable();
        assert_eq!(takers, expected, "one each: the shop rule and the even load");
        assert!(planned.iter().all(|t| t["pseudonym"].as_str().is_some_and(|p| p.starts_with("vol-"))));
        assert_eq!(preview["objective"]["tasks"], 2);
        let quilts = preview["unfilled"].as_array().expect("unfilled").iter()
            .find(|u| u["category"] == "silk-quilts").cloned().expect("the quilt quota is unfilled");
        assert_eq!(quilts["reasons"], json!({ "no_eligible_volunteer": 1 }), "{quilts}");
        assert_eq!(preview["budget"]["planned"], 40_000, "the quota's cap per task: {preview}");
        assert_eq!(preview["budget"]["fits"], true);

        let pairs: Vec<serde_json::Value> = planned.iter()
            .map(|t| json!({ "candidate_id": t["candidate_id"], "volunteer_id": t["volunteer_id"] }))
            .collect();
        let commit = json!({ "commit_id": "c-1", "tasks": pairs });
        let (status, body) = post(&server, &commit_path, token, commit.clone()).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("campaign_not_active")), "{body}");
        let (status, _) = send(&server, Method::PATCH, &campaign_path, token, json!({ "status": "active" })).await;
        assert_eq!(status, StatusCode::OK);

        // Committed once, however often it is sent.
        let (status, first) = post(&server, &commit_path, token, commit.clone()).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(first["tasks"].as_array().map(Vec::len), Some(2));
        let (status, again) = post(&server, &commit_path, token, commit.clone()).await;
        assert_eq!((status, &again), (StatusCode::OK, &first), "a repeated commit answers the first result");
        let (_, all_tasks) = get(&server, "/api/tasks?limit=500", token).await;
        assert_eq!(all_tasks.as_array().map(Vec::len), Some(2), "{all_tasks}");
        // The same plan under a new id: its candidates are taken now.
        let (status, body) = post(&server, &commit_path, token, json!({ "commit_id": "c-2", "tasks": commit["tasks"] })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("candidate_unavailable")), "{body}");

        // The offer is on Anna's phone, with its cap and deadline.
        annas_phone.pull(&server).await;
        let annas_task = first["tasks"].as_array().expect("tasks").iter()
            .find(|t| t["volunteer_id"] == anna.user_id.as_str()).cloned().expect("Anna has one");
        let task_id = annas_task["task_id"].as_str().expect("task id").to_string();
        match annas_phone.replica.confirmed().get(&(Kind::Task, task_id.clone())) {
            Some(Record::Task(t)) => {
                assert_eq!(t.status.status, Status::Offered);
                assert_eq!(t.price_cap.as_ref().map(|m| (m.minor, m.currency.as_str())), Some((20_000, "CNY")));
                assert!(t.deadline_us.is_some());
            }
            other => panic!("no offer on the phone: {other:?}"),
        }
        // And a mail that says so, naming no shop or price.
        let mail = mystery_buyer_tests::eventually(std::time::Duration::from_secs(20), "the offer mail", || {
            let dir = env.config.outbox_dir();
            async move {
                std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
                    let text = std::fs::read_to_string(e.path()).ok()?;
                    text.contains("buying task is waiting").then_some(text)
                })
            }
        }).await.expect("mailed");
        assert!(!mail.contains("Shop A") && !mail.contains("taobao.example.com"), "{mail}");

        // A hand-made plan over budget is refused; a wrong one too.
        let (status, _) = send(&server, Method::PUT, &format!("{campaign_path}/quotas"), token, json!([
            { "category": "backpacks", "platform": "taobao", "target": 3, "price_cap": 20_000 },
            { "category": "silk-quilts", "target": 1 },
        ])).await;
        assert_eq!(status, StatusCode::OK);
        let (_, preview) = post(&server, &preview_path, token, json!({})).await;
        let third = preview["tasks"][0].clone();
        assert_eq!(third["listing_url"], "https://taobao.example.com/item/3", "{preview}");
        assert_eq!(third["volunteer_id"], anna.user_id.as_str(), "Ben is full; Anna has no listing of shop B");
        let (status, body) = post(&server, &commit_path, token, json!({ "commit_id": "c-3", "tasks": [
            { "candidate_id": third["candidate_id"], "volunteer_id": ben.user_id },
        ]})).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("assignment_invalid")), "Ben is full: {body}");
        let (status, _) = send(&server, Method::PATCH, &campaign_path, token, json!({ "budget": 50_000 })).await;
        assert_eq!(status, StatusCode::OK);
        let hand = json!({ "commit_id": "c-4", "tasks": [{ "candidate_id": third["candidate_id"], "volunteer_id": third["volunteer_id"] }] });
        let (status, body) = post(&server, &commit_path, token, hand).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("over_budget")), "{body}");

        // Ben declines on his phone: his candidate is free again at once.
        let bens_task = first["tasks"].as_array().expect("tasks").iter()
            .find(|t| t["volunteer_id"] == ben.user_id.as_str()).cloned().expect("Ben has one");
        let mut bens_phone = Device::register(&server, &ben, "Ben's phone").await;
        bens_phone.pull(&server).await;
        let now_us = mystery_buyer_server::clock::Clock::now(&clock).timestamp_micros();
        bens_phone.mutate(now_us, sync_protocol::Mutation::SetTaskStatus(sync_protocol::mutations::SetTaskStatus {
            task_id: bens_task["task_id"].as_str().expect("id").to_string(), generation: 1, status: Status::Declined,
        }));
        bens_phone.sync(&server, now_us + 1).await;
        let (_, preview) = post(&server, &preview_path, token, json!({})).await;
        assert!(preview["tasks"].as_array().expect("tasks").iter().any(|t| t["candidate_id"] == bens_task["candidate_id"]), "{preview}");

        // Silence: after the window the offer expires and its candidate
        // returns to the pool.
        clock.advance(chrono::Duration::hours(25));
        let db = env.database().await;
        mystery_buyer_tests::eventually(std::time::Duration::from_secs(30), "the offers expire", || {
            let (db, campaign_id) = (db.clone(), id.clone());
            async move {
                let live = db
                    .read(move |conn| mystery_buyer_server::db::campaigns::live_campaign_tasks(conn, &campaign_id).map_err(mystery_buyer_server::db::DbError::from))
                    .await
                    .ok()?;
                live.is_empty().then_some(())
            }
        }).await.expect("expired");
        annas_phone.pull(&server).await;
        match annas_phone.replica.confirmed().get(&(Kind::Task, task_id.clone())) {
            Some(Record::Task(t)) => assert_eq!(t.status.status, Status::Expired),
            other => panic!("{other:?}"),
        }
        let (_, preview) = post(&server, &preview_path, token, json!({})).await;
        assert_eq!(preview["tasks"].as_array().map(Vec::len), Some(3), "all three slots can be planned again: {preview}");
        assert_eq!((preview["budget"]["committed"].as_i64(), preview["budget"]["fits"].as_bool()), (Some(0), Some(false)), "but they do not fit the cut budget");

        // Reopened, the offer gets a fresh window and expires again.
        let (status, body) = post(&server, &format!("/api/tasks/{task_id}/reopen"), token, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        clock.advance(chrono::Duration::hours(23));
        annas_phone.pull(&server).await;
        match annas_phone.replica.confirmed().get(&(Kind::Task, task_id.clone())) {
            Some(Record::Task(t)) => assert_eq!((t.status.status, t.status.generation), (Status::Offered, 2), "within the new window"),
            other => panic!("{other:?}"),
        }
        clock.advance(chrono::Duration::hours(2));
        mystery_buyer_tests::eventually(std::time::Duration::from_secs(30), "the second offer expires", || {
            let (server, task_id, token) = (&server, task_id.clone(), coordinator.access_token.clone());
            async move {
                let (_, task) = get(server, &format!("/api/tasks/{task_id}"), Some(&token)).await;
                (task["status"] == "expired" && task["generation"] == 2).then_some(())
            }
        }).await.expect("expired again");
        server.stop().await;
    }
}

on_each_backend! {
    async fn a_hundred_volunteers_claiming_the_last_five_slots_get_exactly_five_tasks(backend: Backend) {
        let env = TestEnv::with(backend, &[("MB_RATE_LIMIT_IP_PER_MINUTE", "100000")]);
        let server = env.start().await;
        let coordinator = person(&server, &env, Role::Coordinator).await;
        let token = Some(coordinator.access_token.as_str());
        let id = new_campaign(&server, &coordinator).await;
        let campaign_path = format!("/api/campaigns/{id}");
        let (status, _) = send(&server, Method::PUT, &format!("{campaign_path}/quotas"), token,
            json!([{ "category": "power-strips", "platform": "jd", "target": 7 }])).await;
        assert_eq!(status, StatusCode::OK);
        let listings: Vec<serde_json::Value> = (0..100).map(|n| listing("power-strips", "jd", n, &format!("shop-{n}"), 3_000, n % 20)).collect();
        let (status, report) = post_bytes(&server, &format!("{campaign_path}/candidates/import"), token, "application/json", serde_json::to_vec(&listings).expect("json")).await;
        assert_eq!(status, StatusCode::CREATED, "{report}");
        let (status, _) = send(&server, Method::PATCH, &campaign_path, token, json!({ "status": "active" })).await;
        assert_eq!(status, StatusCode::OK);

        let volunteers = futures_util::future::join_all((0..100).map(|_| person(&server, &env, Role::Volunteer))).await;
        futures_util::future::join_all(volunteers.iter().map(|v| profile(&server, v, json!({
            "region": "Jiangsu", "categories": ["power-strips"], "platforms": ["jd"],
            "capacity": 1, "spending_cap": 10_000,
        })))).await;

        // The board shows each volunteer what they may claim.
        let board_path = format!("{campaign_path}/board");
        let (status, board) = get(&server, &board_path, Some(&volunteers[0].access_token)).await;
        assert_eq!(status, StatusCode::OK, "{board}");
        assert_eq!(board.as_array().map(Vec::len), Some(100), "{board}");
        let (status, _) = get(&server, &board_path, token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "the board is for volunteers");

        // Two slots go first; then everyone claims at once for the last five.
        let claim_path = format!("{board_path}/claim");
        for (v, n) in [(0, 0), (1, 1)] {
            let candidate = board[n]["candidate_id"].clone();
            let (status, body) = post(&server, &claim_path, Some(&volunteers[v].access_token), json!({ "candidate_id": candidate })).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (status, body) = post(&server, &claim_path, Some(&volunteers[0].access_token), json!({ "candidate_id": board[2]["candidate_id"] })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("claim_refused")), "a full volunteer: {body}");
        let answers = futures_util::future::join_all(volunteers.iter().enumerate().map(|(i, v)| {
            let candidate = board[i]["candidate_id"].clone();
            post(&server, &claim_path, Some(&v.access_token), json!({ "candidate_id": candidate }))
        })).await;
        let won = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
        let refused = answers.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["code"].as_str().is_some_and(|c| c == "claim_refused" || c == "candidate_unavailable")).count();
        assert_eq!((won, refused), (5, 95), "{answers:?}");

        let (_, tasks) = get(&server, "/api/tasks?limit=500", token).await;
        let tasks = tasks.as_array().expect("tasks");
        assert_eq!(tasks.len(), 7, "exactly the seven slots");
        assert!(tasks.iter().all(|t| t["status"] == "accepted"), "a claim is accepted from the start");
        let owners: std::collections::BTreeSet<&str> = tasks.iter().filter_map(|t| t["assignee_id"].as_str()).collect();
        assert_eq!(owners.len(), 7, "one each");
        let (_, board) = get(&server, &board_path, Some(&volunteers[99].access_token)).await;
        assert_eq!(board, json!([]), "nothing left to claim");
        server.stop().await;
    }
}

on_each_backend! {
    async fn progress_shows_quota_fill_statuses_overdue_tasks_missing_evidence_and_money(backend: Backend) {
        use mystery_buyer_tests::sync::{Device, new_id};
        use sync_protocol::{
            Money, Mutation, Status,
            mutations::{AddEvidence, RecordPurchase, RequestReimbursement, SetTaskStatus},
            records::EvidenceKind,
        };

        let env = TestEnv::with(backend, &[("MB_ACCESS_TOKEN_SECS", "2592000")]);
        let clock = mystery_buyer_tests::manual_clock();
        let server = env.start_with_clock(clock.clone()).await;
        let coordinator = person(&server, &env, Role::Coordinator).await;
        let token = Some(coordinator.access_token.as_str());
        let id = new_campaign(&server, &coordinator).await;
        let campaign_path = format!("/api/campaigns/{id}");
        send(&server, Method::PUT, &format!("{campaign_path}/quotas"), token,
            json!([{ "category": "power-strips", "target": 3 }, { "category": "power-strips", "platform": "jd", "target": 2 }])).await;
        let listings: Vec<serde_json::Value> = (0..3).map(|n| listing("power-strips", "jd", n, &format!("s{n}"), 4_000, 0)).collect();
        post_bytes(&server, &format!("{campaign_path}/candidates/import"), token, "application/json", serde_json::to_vec(&listings).expect("json")).await;
        send(&server, Method::PATCH, &campaign_path, token, json!({ "status": "active" })).await;
        let anna = person(&server, &env, Role::Volunteer).await;
        let ben = person(&server, &env, Role::Volunteer).await;
        let mut claimed = Vec::new();
        for who in [&anna, &ben] {
            profile(&server, who, json!({ "region": "Hubei", "categories": ["power-strips"], "platforms": ["jd"], "capacity": 1, "spending_cap": 9_000 })).await;
            let (_, board) = get(&server, &format!("{campaign_path}/board"), Some(&who.access_token)).await;
            let (status, task) = post(&server, &format!("{campaign_path}/board/claim"), Some(&who.access_token), json!({ "candidate_id": board[0]["candidate_id"] })).await;
            assert_eq!(status, StatusCode::CREATED, "{task}");
            claimed.push(task["task_id"].as_str().expect("task").to_string());
        }

        // Anna buys, sends one of the two required pieces of evidence and
        // asks to be paid back; Ben does nothing past his deadline.
        let mut phone = Device::register(&server, &anna, "Anna's phone").await;
        let t = mystery_buyer_server::clock::Clock::now(&clock).timestamp_micros();
        phone.pull(&server).await;
        let task = claimed[0].clone();
        phone.mutate(t, Mutation::SetTaskStatus(SetTaskStatus { task_id: task.clone(), generation: 1, status: Status::Purchased }));
        phone.mutate(t + 1, Mutation::RecordPurchase(RecordPurchase {
            id: new_id(), task_id: task.clone(), order_number: "JD-1".into(), amount: Money::new(3_890, "CNY"),
            purchased_at_us: t, shop_name: "Shop s0".into(),
        }));
        phone.mutate(t + 2, Mutation::AddEvidence(AddEvidence {
            id: new_id(), task_id: task.clone(), kind: EvidenceKind::OrderScreenshot, sha256: "cd".repeat(32),
            size: 1_000, media_type: "image/png".into(), captured_at_us: t, note: String::new(),
        }));
        let reimbursement = new_id();
        phone.mutate(t + 3, Mutation::RequestReimbursement(RequestReimbursement {
            id: reimbursement.clone(), task_id: task.clone(), amount: Money::new(3_890, "CNY"), note: String::new(),
        }));
        phone.sync(&server, t + 4).await;
        clock.advance(chrono::Duration::hours(73));

        let (status, progress) = get(&server, &format!("{campaign_path}/progress"), token).await;
        assert_eq!(status, StatusCode::OK, "{progress}");
        assert_eq!(progress["tasks_by_status"], json!({ "accepted": 1, "purchased": 1 }), "{progress}");
        let quotas = progress["quotas"].as_array().expect("quotas");
        let whole = quotas.iter().find(|q| q["platform"].is_null()).expect("category quota");
        assert_eq!((whole["target"].as_u64(), whole["filled"].as_u64(), whole["purchased"].as_u64()), (Some(3), Some(2), Some(1)));
        assert_eq!(progress["overdue"].as_array().map(Vec::len), Some(1), "{progress}");
        assert_eq!(progress["overdue"][0]["task_id"], claimed[1].as_str());
        // The screenshot is recorded but its file never arrived: both kinds
        // are still missing (only verified files count).
        assert_eq!(progress["missing_evidence"], json!([{ "task_id": task, "volunteer_id": anna.user_id, "missing": ["order_screenshot", "product_photo"] }]));
        assert_eq!((progress["reimbursements"]["requested"].as_u64(), progress["reimbursements"]["requested_amount"].as_i64()), (Some(1), Some(3_890)));
        // Spent: Anna's purchase; committed: Ben's task at its listed price.
        assert_eq!(progress["money"], json!({ "budget": 5_000_000, "spent": 3_890, "committed": 4_000, "remaining": 4_992_110 }), "{progress}");

        // The reimbursement: rejected only with a reason, then approved and
        // paid, in that order; a repeated step changes nothing.
        let decide = format!("/api/reimbursements/{reimbursement}/decision");
        let (status, body) = post(&server, &decide, token, json!({ "decision": "reject" })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = post(&server, &decide, token, json!({ "decision": "paid" })).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("reimbursement_out_of_order")), "{body}");
        for step in ["approve", "paid", "paid"] {
            let (status, body) = post(&server, &decide, token, json!({ "decision": step })).await;
            assert_eq!(status, StatusCode::OK, "{step}: {body}");
        }
        let (status, body) = post(&server, &decide, token, json!({ "decision": "approve" })).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, _) = post(&server, "/api/reimbursements/nope/decision", token, json!({ "decision": "approve" })).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        phone.pull(&server).await;
        match phone.replica.confirmed().get(&(sync_protocol::Kind::Reimbursement, reimbursement.clone())) {
            Some(sync_protocol::Record::Reimbursement(r)) => {
                assert_eq!(r.status, sync_protocol::records::ReimbursementStatus::Paid);
            }
            other => panic!("the decision is not on the phone: {other:?}"),
        }
        let (_, progress) = get(&server, &format!("{campaign_path}/progress"), token).await;
        assert_eq!((progress["reimbursements"]["paid"].as_u64(), progress["reimbursements"]["paid_amount"].as_i64()), (Some(1), Some(3_890)));

        // Finance's CSV: by pseudonym, never by name.
        let response = server.http.get(server.url(&format!("{campaign_path}/finance.csv"))).bearer_auth(&coordinator.access_token).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/csv"));
        let csv = response.text().await.expect("text");
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(lines[0].starts_with("reimbursement_id,task_id,volunteer,"), "{csv}");
        assert!(lines[1].contains(&reimbursement) && lines[1].contains(",3890,CNY,paid,") && lines[1].contains(",vol-"), "{csv}");
        server.stop().await;
    }
}
