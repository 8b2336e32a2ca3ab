//! `GET /openapi.json`: the OpenAPI 3.1 document, pinned by a golden file and
//! checked against the router.
//!
//! After an intended change to the API, regenerate the golden file with
//! `UPDATE_GOLDEN=1 cargo test -p tessera-server --test openapi_http` and
//! review its diff.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

mod support;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use support::*;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openapi.golden.json");

/// Every route of the router, as (method, path). `/v1/verify` accepts any
/// method and is documented as GET.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("post", "/v1/users"),
    ("post", "/v1/password"),
    ("post", "/v1/session/login"),
    ("get", "/v1/session"),
    ("post", "/v1/session/logout"),
    ("get", "/v1/session/data"),
    ("put", "/v1/session/data"),
    ("post", "/v1/token/login"),
    ("post", "/v1/hybrid/login"),
    ("post", "/v1/hybrid/refresh"),
    ("post", "/v1/hybrid/logout"),
    ("post", "/oauth/token"),
    ("post", "/oauth/revoke"),
    ("post", "/oauth/introspect"),
    ("get", "/v1/verify"),
    ("get", "/v1/sessions"),
    ("delete", "/v1/sessions/{id}"),
    ("post", "/v1/logout-all"),
    ("get", "/admin/keys"),
    ("post", "/admin/keys/rotate"),
    ("post", "/admin/users/{id}/logout-all"),
    ("post", "/admin/users/{id}/disable"),
];

async fn fetch(s: &TestServer) -> Value {
    let res = s.req(Method::GET, "/openapi.json").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap();
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    res.json().await.unwrap()
}

#[tokio::test]
async fn document_matches_golden_file() {
    let s = TestServer::start().await;
    let doc = fetch(&s).await;
    // serde_json's map is ordered by key, so this text is stable.
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(GOLDEN, &text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    if golden != text {
        let first = golden.lines().zip(text.lines()).position(|(a, b)| a != b);
        panic!(
            "/openapi.json differs from tests/openapi.golden.json (first differing line: {:?}); \
             if the change is intended, run UPDATE_GOLDEN=1 cargo test -p tessera-server \
             --test openapi_http and review the diff",
            first.map(|i| i + 1)
        );
    }
}

#[tokio::test]
async fn document_is_openapi_3_1_with_the_contract_components() {
    let s = TestServer::start().await;
    let doc = fetch(&s).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Tessera");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error", "error_description"]));

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["bearer"]["bearerFormat"], "JWT");
    assert_eq!(schemes["client_basic"]["scheme"], "basic");
    for (scheme, cookie) in [
        ("session_cookie", "__Host-tessera_session"),
        ("hybrid_cookie", "__Host-tessera_at"),
        ("hybrid_refresh_cookie", "__Secure-tessera_rt"),
    ] {
        assert_eq!(schemes[scheme]["type"], "apiKey", "{scheme}");
        assert_eq!(schemes[scheme]["in"], "cookie", "{scheme}");
        assert_eq!(schemes[scheme]["name"], cookie, "{scheme}");
    }

    // The login endpoints and /oauth/* take JSON and forms.
    for path in [
        "/v1/session/login",
        "/v1/token/login",
        "/v1/hybrid/login",
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
    ] {
        let content = &doc["paths"][path]["post"]["requestBody"]["content"];
        assert!(content["application/json"].is_object(), "{path}");
        assert!(content["application/x-www-form-urlencoded"].is_object(), "{path}");
    }
}

#[tokio::test]
async fn every_route_is_documented_and_nothing_else() {
    let s = TestServer::start().await;
    let doc = fetch(&s).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| is_method(k))
                .map(|m| (m.clone(), path.clone()))
        })
        .collect();
    let routes: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, routes);

    // Every operation has an id, a tag, and its errors in the contract's shape.
    for (method, path) in &routes {
        let op = &doc["paths"][path][method];
        assert!(op["operationId"].is_string(), "{method} {path}");
        assert!(op["tags"][0].is_string(), "{method} {path}");
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                let reference = response["$ref"].as_str();
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert!(
                    reference.is_some_and(|r| r.starts_with("#/components/responses/"))
                        || schema == "#/components/schemas/ErrorBody",
                    "{method} {path} {status}: {response}"
                );
            }
        }
    }

    // And the list is the router's: each route answers with something other
    // than the fallback's 404 or 405.
    for (method, path) in ROUTES {
        let concrete = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let res = s.req(method.clone(), &concrete).send().await.unwrap();
        assert!(![404, 405].contains(&res.status().as_u16()), "{method} {path}: {}", res.status());
    }
}

fn is_method(k: &str) -> bool {
    matches!(k, "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace")
}
