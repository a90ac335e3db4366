//! Bundles open in the tools municipalities use: `unzip -t` and Python's `zipfile`.

use std::process::Command;

use dropgate::publish::bundle::{BundleWriter, Manifest};

#[test]
fn a_bundle_passes_unzip_and_pythons_zipfile_test() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Bundel-0344-20261122060000.zip");
    let mut bundle = BundleWriter::create(&path, chrono::Local::now().naive_local()).unwrap();
    let rows = (0..50_000).map(|i| {
        Ok(vec![
            format!("{i:064X}"),
            format!("2026-10-{:02}", i % 28 + 1),
            "=1+1".to_owned(),
        ])
    });
    assert_eq!(
        bundle
            .csv("Metingen.csv", &["pseudoniem", "datum", "waarde"], rows)
            .unwrap(),
        50_000
    );
    bundle
        .csv(
            "Beschikkingen.csv",
            &["beschikking"],
            std::iter::empty::<std::io::Result<Vec<String>>>(),
        )
        .unwrap();
    let manifest = bundle
        .finish(Manifest::new("0344", "incremental", None, "2026-11-22"))
        .unwrap();
    assert_eq!(manifest.files.len(), 2);
    assert_eq!(
        manifest.files[1].rows, 0,
        "an empty CSV is still there, with its header"
    );

    let unzip = Command::new("unzip")
        .arg("-t")
        .arg(&path)
        .output()
        .expect("unzip, installed by .ci/run");
    let text = String::from_utf8_lossy(&unzip.stdout);
    assert!(
        unzip.status.success() && text.contains("No errors detected"),
        "{text}"
    );
    let python = Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(sorted(z.namelist()))"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).trim(),
        "['Beschikkingen.csv', 'Metingen.csv', 'manifest.json']"
    );
}
