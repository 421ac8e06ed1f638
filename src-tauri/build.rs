fn main() {
    // Declaring the app's commands makes Tauri check every call against the
    // capabilities: a command that is not listed in `capabilities/` is refused.
    // Each name here gets the permissions `allow-<name>` and `deny-<name>`
    // (snake_case turned into kebab-case).
    let manifest = tauri_build::AppManifest::new().commands(&["list_households"]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build failed; see the message above");
}
