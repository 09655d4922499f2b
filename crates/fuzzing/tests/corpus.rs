//! Replays every committed corpus file (`fuzz/corpus/<target>/*`) through
//! its target's body, so a regression a fuzzer once found fails the plain
//! `cargo test` too, without libFuzzer or nightly.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_replays_cleanly() {
    for (target, body) in knotwork_fuzzing::TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "no corpus for {target}");
        for f in &files {
            let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if let Err(p) = std::panic::catch_unwind(|| body(&bytes)) {
                eprintln!("{target}: {} fails", f.display());
                std::panic::resume_unwind(p);
            }
        }
        println!("{target}: {} corpus files replayed", files.len());
    }
}

#[test]
#[ignore = "writes the seed corpus; run by hand after changing the seeds"]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (target, name, bytes) in knotwork_fuzzing::seeds::seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{target}: {e}"));
    }
}
