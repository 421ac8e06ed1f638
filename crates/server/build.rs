//! The migrations are embedded with `include_dir!`, which cannot tell cargo to rebuild
//! when a file is added to their folder; this does.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations/server");
}
