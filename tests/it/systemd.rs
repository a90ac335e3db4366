//! The shipped systemd unit stays hardened: `systemd-analyze security` must rate it 2.0 or
//! lower (0 is best, 10 worst).

use std::process::Command;

#[test]
fn the_unit_exposure_is_at_most_2_0() {
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/dropgate.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager", unit])
        .output()
        .expect("systemd-analyze is installed by .ci/run (package systemd)");
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for dropgate.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{text}"));
    assert!(level <= 2.0, "exposure {level}:\n{text}");
}
