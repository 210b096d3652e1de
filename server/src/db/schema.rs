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

diesel::joinable!(volunteer_personal_data -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    volunteer_personal_data,
    blobs,
    multipart_uploads,
    jobs,
    mail_outbox,
);
