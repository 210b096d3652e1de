//! End-to-end stories. One test binary; each module is one area. Stories
//! that need PostgreSQL, Garage, moto or the SMTP server are compiled with the
//! `services` feature (on in `cargo xtask test`).

mod e2e {
    pub mod blob_store;
    pub mod campaigns;
    pub mod custody;
    pub mod errors;
    pub mod identity;
    pub mod jobs;
    pub mod logistics;
    pub mod mail;
    pub mod migrations;
    pub mod operations;
    pub mod pages;
    #[cfg(feature = "services")]
    pub mod panel;
    pub mod process;
    pub mod station_sync;
    pub mod sync;
    pub mod sync_safety;
    #[cfg(feature = "services")]
    pub mod tus_clients;
    #[cfg(feature = "services")]
    pub mod two_instances;
    pub mod uploads;
}
