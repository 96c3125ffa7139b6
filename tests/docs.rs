//! The documents hospital IT reads must say what the code does.

use bedside::config::{KEYS, example_file};

fn read(path: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + path).unwrap()
}

#[test]
fn the_readme_starts_with_the_run_and_test_commands_and_ci_runs_the_test_one() {
    let readme = read("README.md");
    let first_block: Vec<&str> = readme
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap()
        .lines()
        .collect();
    assert_eq!(first_block, ["cargo run --release -- serve", "cargo test"]);
    let ci = read(".ci/run");
    assert!(ci.contains("set -euo pipefail"), "{ci}");
    assert!(
        ci.lines()
            .any(|l| l == "cargo test" || l.starts_with("cargo test >")),
        "{ci}"
    );
}

#[test]
fn the_readme_documents_every_configuration_key() {
    let readme = read("README.md");
    for key in KEYS {
        let row = format!("| `{}` | `{}` |", key.key, key.env);
        assert!(
            readme.contains(&row),
            "README lacks the row for {}",
            key.key
        );
    }
}

#[test]
fn the_example_configuration_is_what_init_writes() {
    assert_eq!(read("examples/bedside.toml"), example_file());
}
