fn main() {
    // Declaring the app's commands makes Tauri check every call against the
    // capabilities: a command that is not listed in `capabilities/` is refused.
    // Each name here gets the permissions `allow-<name>` and `deny-<name>`
    // (snake_case turned into kebab-case). Keep in step with `COMMANDS` in
    // `src/commands.rs`; a test checks both lists and the capability.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "app_status",
        "enrol",
        "list_households",
        "count_households",
        "household_detail",
        "list_templates",
        "start_visit",
        "open_visit",
        "answer",
        "add_note",
        "edit_note",
        "raise_signal",
        "add_follow_up",
        "complete_visit",
        "my_follow_ups",
        "list_conflicts",
        "resolve_conflict",
        "sync_now",
        "unlock",
        "lock_now",
        "still_here",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build failed; see the message above");
}
