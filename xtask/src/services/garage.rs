//! Garage 2.5.0, the S3-compatible store, as a one-node cluster with one
//! bucket and a fixed test key. Built from crates.io once and cached, because
//! no prebuilt binary can be fetched here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{Daemon, cache_dir, cargo, http_answers, output, run_visible};
use crate::reaper::Reaper;

const VERSION: &str = "2.5.0";
const REGION: &str = "garage";
const BUCKET: &str = "mb-test";
/// Test-only credentials, imported into every fresh cluster.
const ACCESS_KEY: &str = "GK6d622d746573742d6b657930";
const SECRET_KEY: &str = "6d622d746573742d7365637265742d6b65792d6e6f742d666f722d70726f6421";
const RPC_SECRET: &str = "6d622d746573742d7270632d7365637265742d6e6f742d666f722d70726f6421";

fn binary() -> Result<PathBuf> {
    Ok(cache_dir()?.join("garage/root/bin/garage"))
}

pub fn install() -> Result<()> {
    let bin = binary()?;
    if bin.exists() {
        return Ok(());
    }
    let home = cache_dir()?.join("garage");
    let target = home.join("target");
    std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    eprintln!(
        "xtask: building garage {VERSION} into {} (once per machine; about 15 minutes)",
        bin.display()
    );
    run_visible(
        cargo()
            .args([
                "install",
                "garage",
                "--locked",
                "--version",
                VERSION,
                "--root",
            ])
            .arg(home.join("root"))
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&home),
    )?;
    // Gigabytes of intermediate files we will not need again.
    let _ = std::fs::remove_dir_all(&target);
    if !bin.exists() {
        bail!("cargo install finished but {} is missing", bin.display());
    }
    Ok(())
}

/// A running node; dropping it stops the server.
pub struct Garage {
    s3_port: u16,
    _daemon: Daemon,
}

impl Garage {
    /// `ports` are the RPC, S3 and admin ports.
    pub fn start(scratch: &Path, ports: [u16; 3], reaper: &Reaper) -> Result<Self> {
        let dir = scratch.join("garage");
        let log = dir.join("garage.log");
        let started = Self::start_in(&dir, &log, ports, reaper)
            .map_err(|e| super::start_error("garage", e, &log))?;
        eprintln!(
            "xtask: garage {VERSION} ready on 127.0.0.1:{} (S3)",
            ports[1]
        );
        Ok(started)
    }

    fn start_in(
        dir: &Path,
        log: &Path,
        [rpc, s3, admin]: [u16; 3],
        reaper: &Reaper,
    ) -> Result<Self> {
        let bin = binary()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let config = dir.join("garage.toml");
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{RPC_SECRET}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
                dir = dir.display()
            ),
        )
        .with_context(|| format!("writing {}", config.display()))?;
        let garage = || {
            let mut cmd = Command::new(&bin);
            cmd.arg("-c").arg(&config).env("RUST_LOG", "warn");
            cmd
        };
        let cli = |args: &[&str]| output(garage().args(args));

        let mut daemon = Daemon::spawn("garage", garage().arg("server"), log, reaper)?;
        daemon.wait_ready(Duration::from_secs(30), || cli(&["status"]).map(drop))?;
        let node = cli(&["node", "id", "-q"])?;
        let node = node.trim().split('@').next().unwrap_or_default();
        if node.is_empty() {
            bail!("`garage node id` printed no node id");
        }
        cli(&["layout", "assign", "-z", "dc1", "-c", "1G", node])?;
        cli(&["layout", "apply", "--version", "1"])?;
        cli(&[
            "key", "import", "--yes", ACCESS_KEY, SECRET_KEY, "-n", BUCKET,
        ])?;
        cli(&["bucket", "create", BUCKET])?;
        cli(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", BUCKET,
        ])?;
        daemon.wait_ready(Duration::from_secs(30), || http_answers(s3))?;
        Ok(Self {
            s3_port: s3,
            _daemon: daemon,
        })
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "MB_TEST_GARAGE_ENDPOINT",
                format!("http://127.0.0.1:{}", self.s3_port),
            ),
            ("MB_TEST_GARAGE_REGION", REGION.into()),
            ("MB_TEST_GARAGE_BUCKET", BUCKET.into()),
            ("MB_TEST_GARAGE_ACCESS_KEY", ACCESS_KEY.into()),
            ("MB_TEST_GARAGE_SECRET_KEY", SECRET_KEY.into()),
        ]
    }
}
