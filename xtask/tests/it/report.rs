//! The JSON report (`--report FILE`, `--json`) against its documented schema
//! (docs/report-v1.schema.json), for a successful and a failed run.

use serde_json::Value;

use crate::harness::Project;

/// Checks `value` against the subset of JSON Schema the report's schema uses:
/// type (or a list of types), enum, required, properties, items. Returns the
/// first violation with its path.
pub fn validate(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = allowed.iter().any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !ok {
            return Err(format!("{path}: expected {allowed:?}, got {actual}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            return Err(format!("{path}: {value} is not one of {options:?}"));
        }
    }
    if let Value::Object(obj) = value {
        if let Some(Value::Array(req)) = schema.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{path}: missing `{r}`"));
                }
            }
        }
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (k, v) in obj {
                match props.get(k) {
                    Some(s) => validate(s, v, &format!("{path}.{k}"))?,
                    None => return Err(format!("{path}: `{k}` is not documented")),
                }
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(s, item, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn schema() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report-v1.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_validator_rejects_what_does_not_fit() {
    let s = schema();
    assert!(validate(&s, &serde_json::json!({"format": "xtask-run-report"}), "$").unwrap_err().contains("missing"));
    let s2 = serde_json::json!({"type": "object", "properties": {"a": {"enum": [1]}}});
    assert!(validate(&s2, &serde_json::json!({"a": 2}), "$").is_err());
    assert!(validate(&s2, &serde_json::json!({"b": 1}), "$").unwrap_err().contains("not documented"));
}

#[test]
fn report_of_a_successful_and_a_failed_run_fit_the_schema() {
    let p = Project::new(
        "[tasks.a]\nrun = [\"true\"]\n[tasks.b]\ndeps = [\"a\"]\nrun = [\"sh\", \"-c\", \"exit 4\"]\n[tasks.c]\ndeps = [\"b\"]\nrun = [\"true\"]\n",
    );
    let ok = p.xtask().args(["a", "--report", "ok.json"]).run();
    ok.expect_code(0);
    let report: Value = serde_json::from_str(&p.read("ok.json")).unwrap();
    validate(&schema(), &report, "$").unwrap();
    assert_eq!(report["outcome"], "success");
    assert_eq!(report["tasks"][0]["name"], "a");

    let failed = p.xtask().args(["c", "--json"]).run();
    failed.expect_code(1);
    let report: Value = serde_json::from_str(&failed.stdout).unwrap();
    validate(&schema(), &report, "$").unwrap();
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["exit_code"], 1);
    let outcomes: Vec<&str> =
        report["tasks"].as_array().unwrap().iter().map(|t| t["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["success", "failed", "skipped"]);
    assert!(report["tasks"][1]["error"].as_str().unwrap().contains("exit status 4"));
}
