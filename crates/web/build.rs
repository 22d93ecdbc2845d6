//! The front-end files are installed by `scripts/assets` (npm ci + copy); the binary embeds them.
//! No network here: a missing file stops the build with the command that fixes it.

fn main() {
    let vendor = std::path::Path::new("assets/vendor");
    for f in [
        "htmx.min.js",
        "echarts.min.js",
        "china-division/provinces.json",
        "china-division/cities.json",
        "china-division/areas.json",
        "china-division/streets.json",
    ] {
        assert!(
            vendor.join(f).exists(),
            "crates/web/assets/vendor/{f} is missing: run scripts/assets"
        );
    }
    println!("cargo:rerun-if-changed=assets/vendor");
    println!("cargo:rerun-if-changed=locales");
}
