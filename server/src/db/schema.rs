//! Table definitions for diesel, written by hand and kept portable: only
//! `Text`, `BigInt`, `Integer`, `Bool`, `Binary` and `Double`; instants are
//! `BigInt` microseconds (see `db::time`). Both migration trees must produce
//! these columns; the migration test checks it.

diesel::table! {
    users (id) {
        id -> Text,
        role -> Text,
        status -> Text,
        pseudonym -> Nullable<Text>,
        display_name -> Text,
        email -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    volunteer_personal_data (user_id) {
        user_id -> Text,
        legal_name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        payout_details -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    blobs (sha256) {
        sha256 -> Text,
        size -> BigInt,
        media_type -> Nullable<Text>,
        storage_key -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    multipart_uploads (id) {
        id -> Text,
        object_key -> Text,
        upload_id -> Nullable<Text>,
        purpose -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        run_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        state -> Text,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        credential_id -> Text,
        name -> Text,
        passkey -> Text,
        counter -> BigInt,
        backup_state -> Bool,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webauthn_ceremonies (id) {
        id -> Text,
        purpose -> Text,
        user_id -> Text,
        grant_id -> Nullable<Text>,
        state -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        invited_by -> Nullable<Text>,
        expires_at -> BigInt,
        accepted_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    recovery_links (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    device_sessions (id) {
        id -> Text,
        user_id -> Text,
        passkey_id -> Nullable<Text>,
        kind -> Text,
        device_name -> Text,
        access_hash -> Nullable<Text>,
        access_expires_at -> Nullable<BigInt>,
        csrf_hash -> Nullable<Text>,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        issued_at -> BigInt,
        used_at -> Nullable<BigInt>,
        successor_hash -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> BigInt,
        actor_user_id -> Nullable<Text>,
        action -> Text,
        subject_type -> Text,
        subject_id -> Text,
        detail -> Text,
    }
}

diesel::table! {
    rate_limits (bucket, window_start) {
        bucket -> Text,
        window_start -> BigInt,
        hits -> Integer,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    sync_devices (id) {
        id -> Text,
        user_id -> Text,
        node -> Text,
        name -> Text,
        last_processed -> BigInt,
        last_stamp -> Nullable<Text>,
        created_at -> BigInt,
        last_push_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sync_refusals (device_id, seq) {
        device_id -> Text,
        seq -> BigInt,
        held -> Bool,
        code -> Text,
        message -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    sync_scopes (scope) {
        scope -> Text,
        version -> BigInt,
        pruned_below -> BigInt,
    }
}

diesel::table! {
    tasks (id) {
        id -> Text,
        assignee_id -> Nullable<Text>,
        generation -> Integer,
        status -> Text,
        created_by -> Nullable<Text>,
        deadline_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sync_records (kind, id) {
        kind -> Text,
        id -> Text,
        task_id -> Text,
        author_id -> Nullable<Text>,
        scope -> Nullable<Text>,
        version -> BigInt,
        doc -> Text,
        dedupe_key -> Nullable<Text>,
        withdrawn -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sync_tombstones (scope, version) {
        scope -> Text,
        version -> BigInt,
        kind -> Text,
        record_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    sync_reviews (id) {
        id -> Text,
        reason -> Text,
        task_id -> Text,
        record_kind -> Nullable<Text>,
        record_id -> Nullable<Text>,
        details -> Text,
        dedupe_key -> Text,
        created_at -> BigInt,
        resolved_at -> Nullable<BigInt>,
        resolved_by -> Nullable<Text>,
        resolution -> Nullable<Text>,
    }
}

diesel::table! {
    categories (id) {
        id -> Text,
        name -> Text,
        normal_price -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Text,
        name -> Text,
        status -> Text,
        starts_at -> BigInt,
        ends_at -> BigInt,
        platforms -> Text,
        currency -> Text,
        budget -> BigInt,
        required_evidence -> Text,
        relay_stations -> Text,
        lab -> Nullable<Text>,
        acceptance_window_secs -> BigInt,
        purchase_window_secs -> BigInt,
        open_board -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        witnessed_opening -> Bool,
        test_plan -> Text,
    }
}

diesel::table! {
    quotas (id) {
        id -> Text,
        campaign_id -> Text,
        category_id -> Text,
        platform -> Text,
        target -> Integer,
        price_cap -> Nullable<BigInt>,
    }
}

diesel::table! {
    candidates (id) {
        id -> Text,
        campaign_id -> Text,
        category_id -> Text,
        platform -> Text,
        listing_url -> Text,
        shop_id -> Text,
        shop_name -> Text,
        listed_price -> BigInt,
        price_deviation -> Nullable<Double>,
        complaints -> Integer,
        bad_rating_share -> Nullable<Double>,
        sales_volume -> BigInt,
        claims -> Text,
        source -> Text,
        risk_milli -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    volunteer_profiles (user_id) {
        user_id -> Text,
        region -> Text,
        categories -> Text,
        platforms -> Text,
        capacity -> Integer,
        spending_cap -> BigInt,
        home_station -> Nullable<Text>,
        status -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    campaign_tasks (task_id) {
        task_id -> Text,
        campaign_id -> Text,
        candidate_id -> Text,
        volunteer_id -> Text,
        shop_id -> Text,
        price_cap -> BigInt,
        offer_expires_at -> Nullable<BigInt>,
        commit_id -> Nullable<Text>,
        created_at -> BigInt,
        released_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    assignment_commits (id) {
        id -> Text,
        campaign_id -> Text,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        result -> Text,
    }
}

diesel::table! {
    uploads (id) {
        id -> Text,
        owner_id -> Text,
        evidence_id -> Text,
        metadata -> Text,
        upload_length -> Nullable<BigInt>,
        upload_offset -> BigInt,
        state -> Text,
        multipart_id -> Nullable<Text>,
        hash_state -> Text,
        sha256 -> Nullable<Text>,
        lock_token -> Nullable<Text>,
        lock_until -> Nullable<BigInt>,
        expires_at -> BigInt,
        refusal -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        purpose -> Text,
    }
}

diesel::table! {
    station_photos (id) {
        id -> Text,
        owner_id -> Text,
        upload_id -> Text,
        original_sha256 -> Text,
        original_key -> Nullable<Text>,
        served_sha256 -> Text,
        served_media_type -> Text,
        served_size -> BigInt,
        thumbnail_sha256 -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    scan_photos (scan_id, photo_id) {
        scan_id -> Text,
        photo_id -> Text,
    }
}

diesel::table! {
    upload_parts (upload_id, number) {
        upload_id -> Text,
        number -> Integer,
        size -> BigInt,
        etag -> Text,
        sha256 -> Text,
    }
}

diesel::table! {
    upload_pieces (upload_id, start_offset) {
        upload_id -> Text,
        start_offset -> BigInt,
        size -> BigInt,
        storage_key -> Text,
    }
}

diesel::table! {
    evidence_files (evidence_id) {
        evidence_id -> Text,
        task_id -> Text,
        upload_id -> Text,
        original_sha256 -> Text,
        original_key -> Nullable<Text>,
        served_sha256 -> Text,
        served_media_type -> Text,
        served_size -> BigInt,
        thumbnail_sha256 -> Nullable<Text>,
        perceptual_hash -> Nullable<BigInt>,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        created_at -> BigInt,
    }
}

diesel::joinable!(volunteer_personal_data -> users (user_id));
diesel::table! {
    stations (id) {
        id -> Text,
        name -> Text,
        region -> Text,
        address -> Text,
        active -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    station_operators (station_id, user_id) {
        station_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    labs (id) {
        id -> Text,
        name -> Text,
        region -> Text,
        address -> Text,
        active -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    lab_inspectors (lab_id, user_id) {
        lab_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    parcels (task_id) {
        task_id -> Text,
        campaign_id -> Text,
        generation -> Integer,
        recipient_code -> Text,
        station_id -> Text,
        lab_id -> Nullable<Text>,
        category_id -> Text,
        carrier -> Nullable<Text>,
        tracking -> Nullable<Text>,
        stage -> Text,
        condition -> Nullable<Text>,
        witness_required -> Bool,
        witness -> Nullable<Text>,
        sealed_at -> Nullable<BigInt>,
        sample_code -> Nullable<Text>,
        out_carrier -> Nullable<Text>,
        out_tracking -> Nullable<Text>,
        shipped_at -> Nullable<BigInt>,
        received_at -> Nullable<BigInt>,
        forwarded_at -> Nullable<BigInt>,
        lab_received_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    scans (id) {
        id -> Text,
        station_id -> Text,
        operator_id -> Text,
        code -> Text,
        code_kind -> Text,
        condition -> Text,
        note -> Text,
        photos -> Text,
        scanned_at -> BigInt,
        received_at -> BigInt,
        task_id -> Nullable<Text>,
        matched_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    lab_results (sample_code) {
        sample_code -> Text,
        task_id -> Text,
        lab_id -> Text,
        verdict -> Text,
        failed_items -> Text,
        standard -> Text,
        notes -> Text,
        report_sha256 -> Nullable<Text>,
        report_media_type -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> BigInt,
        published_by -> Nullable<Text>,
        published_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    parcel_exceptions (id) {
        id -> Text,
        task_id -> Text,
        kind -> Text,
        note -> Text,
        reported_by_role -> Text,
        reported_by -> Nullable<Text>,
        reported_at -> BigInt,
        resolved_at -> Nullable<BigInt>,
        resolution -> Nullable<Text>,
    }
}

diesel::table! {
    custody_entries (seq) {
        seq -> BigInt,
        at -> BigInt,
        kind -> Text,
        task_id -> Text,
        sample_code -> Nullable<Text>,
        data -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    custody_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    custody_checkpoints (tree_size) {
        tree_size -> BigInt,
        root -> Text,
        head -> Text,
        at -> BigInt,
        key_id -> Text,
        signature -> Text,
    }
}

diesel::joinable!(passkeys -> users (user_id));
diesel::joinable!(device_sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> device_sessions (session_id));
diesel::joinable!(sync_records -> tasks (task_id));
diesel::joinable!(quotas -> campaigns (campaign_id));
diesel::joinable!(candidates -> campaigns (campaign_id));
diesel::joinable!(volunteer_profiles -> users (user_id));
diesel::joinable!(campaign_tasks -> tasks (task_id));
diesel::joinable!(campaign_tasks -> candidates (candidate_id));
diesel::joinable!(upload_parts -> uploads (upload_id));
diesel::joinable!(upload_pieces -> uploads (upload_id));
diesel::table! {
    station_records (kind, id) {
        kind -> Text,
        id -> Text,
        station_id -> Text,
        task_id -> Nullable<Text>,
        scope -> Nullable<Text>,
        version -> BigInt,
        doc -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(station_operators -> stations (station_id));
diesel::joinable!(lab_inspectors -> labs (lab_id));
diesel::joinable!(parcels -> stations (station_id));
diesel::joinable!(scans -> stations (station_id));
diesel::joinable!(lab_results -> parcels (task_id));
diesel::joinable!(parcel_exceptions -> parcels (task_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    volunteer_personal_data,
    blobs,
    multipart_uploads,
    jobs,
    mail_outbox,
    passkeys,
    webauthn_ceremonies,
    invitations,
    recovery_links,
    device_sessions,
    refresh_tokens,
    audit_log,
    rate_limits,
    server_secrets,
    sync_devices,
    sync_refusals,
    sync_scopes,
    tasks,
    sync_records,
    sync_tombstones,
    sync_reviews,
    categories,
    campaigns,
    quotas,
    candidates,
    volunteer_profiles,
    campaign_tasks,
    assignment_commits,
    uploads,
    upload_parts,
    upload_pieces,
    evidence_files,
    station_photos,
    scan_photos,
    stations,
    station_operators,
    labs,
    lab_inspectors,
    parcels,
    scans,
    lab_results,
    parcel_exceptions,
    custody_entries,
    custody_head,
    custody_checkpoints,
    station_records,
);
