//! The checked-in spec is exactly what the code generates (regenerate with `just openapi`).

#[test]
fn checked_in_openapi_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let checked_in = std::fs::read_to_string(path).expect("openapi/openapi.json exists (run `just openapi`)");
    let generated = weelo_api::spec_json();
    assert!(checked_in == generated, "openapi/openapi.json is stale: run `just openapi` and commit the result");
}

#[test]
fn every_operation_documents_its_errors_as_problems() {
    let spec: serde_json::Value = serde_json::from_str(&weelo_api::spec_json()).unwrap();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let errors: Vec<_> = responses.keys().filter(|s| s.starts_with('4') || s.starts_with('5')).collect();
            assert!(errors.iter().any(|s| *s == "500"), "{method} {path} lacks 500");
            for status in errors {
                let content = &responses[status]["content"];
                assert!(content.get("application/problem+json").is_some(), "{method} {path} {status} is not a problem");
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} operations found");
}
