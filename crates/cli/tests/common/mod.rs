//! The device folder and `voordeur` process helpers shared by the CLI tests.
#![allow(dead_code)] // each test file uses its own subset

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const TEMPLATE_ID: &str = "01930000-0000-7000-8000-000000000001";

pub fn template_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates/huisbezoek-basis.json")
}

pub struct Device {
    pub dir: tempfile::TempDir,
}

impl Device {
    pub fn new() -> Device {
        Device {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_voordeur"))
            .arg("--data")
            .arg(self.dir.path())
            .args(args)
            .env_remove("VOORDEUR_DATA")
            .env_remove("VOORDEUR_DB_KEY")
            .output()
            .expect("run voordeur")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "voordeur {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("json output")
    }

    pub fn create(&self, args: &[&str]) -> String {
        self.json(args)["id"].as_str().expect("id").to_string()
    }

    /// Run a command that must fail with `code` and one line on stderr containing
    /// `expected`, leaving the database as it was.
    pub fn fails(&self, args: &[&str], code: i32, expected: &str) {
        let before = self.ok(&["export"]);
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(
            self.ok(&["export"]),
            before,
            "{args:?} changed the database"
        );
    }

    /// The whole state as stable JSON.
    pub fn export(&self) -> String {
        self.ok(&["export"])
    }
}
