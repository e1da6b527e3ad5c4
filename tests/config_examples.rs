//! The shipped `guardrail.yaml` examples stay in step with the real schema.

use std::path::Path;

use guardrail::config::Config;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn docs_config_example_parses() {
    let doc = std::fs::read_to_string(root().join("docs/config.md")).unwrap();
    let start = doc.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let config = Config::parse(&doc[start..end]).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(config.targets[0].name, "lb-mail");
    assert!(config.policy_params.contains_key("lb-capacity"));
}

#[test]
fn quickstart_config_parses_and_its_files_exist() {
    let dir = root().join("examples/quickstart");
    let text = std::fs::read_to_string(dir.join("guardrail.yaml")).unwrap();
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
    for t in &config.targets {
        for (_, path) in &t.paths {
            assert!(dir.join(path).exists(), "{path}");
            assert!(dir.join("base").join(path).exists(), "base/{path}");
        }
    }
}
