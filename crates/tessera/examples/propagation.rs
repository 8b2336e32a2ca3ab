//! Measures how fast a revocation made on one node is honoured by the others.
//!
//! `bench/propagation.sh` starts the nodes and runs this. For each round:
//! 1. Log in on node A.
//! 2. Present the credential once on every other node, so they hold it in
//!    their caches: the hard case.
//! 3. Start one watcher per other node. Each sends `GET /v1/verify` with the
//!    credential back to back.
//! 4. Revoke on A.
//! 5. Each watcher records when its node first answers 401.
//!
//! A round's figure is the latest of those instants, measured from the moment
//! the revoking request was sent to A (so it includes A's own work; the other
//! nodes usually refuse before A has even answered). Four kinds rotate, in equal numbers:
//! - RFC 7009 revocation of an access token;
//! - session logout;
//! - log out everywhere (the bearer is checked);
//! - ending a token login from the devices list.
//!
//! Usage: `propagation --nodes http://a,http://b[,…] --rounds 1000 --out bench/results/propagation`
//! (writes `.json` and `.md`). The user `prop` with password `PASSWORD`
//! must exist.
#![allow(clippy::unwrap_used, reason = "a benchmark tool: a panic names what broke")]

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "propagation-benchmark-password";
const KINDS: [&str; 4] = ["revoke", "logout", "logout_all", "end_device"];
/// A round that takes longer than this is reported as failed, not waited on.
const GIVE_UP: Duration = Duration::from_secs(5);

#[derive(Clone, Copy)]
enum Credential<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
}

fn with(req: reqwest::RequestBuilder, cred: Credential<'_>) -> reqwest::RequestBuilder {
    match cred {
        Credential::Bearer(t) => req.bearer_auth(t),
        Credential::Cookie(c) => req.header("cookie", c),
    }
}

/// `GET /v1/verify` on `node` until it answers 401; the instant it did.
async fn until_refused(http: Client, node: String, cred: String, bearer: bool) -> Option<Instant> {
    let started = Instant::now();
    let cred = if bearer { Credential::Bearer(&cred) } else { Credential::Cookie(&cred) };
    while started.elapsed() < GIVE_UP {
        let status = with(http.get(format!("{node}/v1/verify")), cred).send().await.ok()?.status();
        if status == StatusCode::UNAUTHORIZED {
            return Some(Instant::now());
        }
        assert_eq!(status, StatusCode::OK, "{node}: verify answered {status}");
    }
    None
}

async fn token_login(http: &Client, node: &str) -> Value {
    let body = json!({"username": "prop", "password": PASSWORD});
    let r = http.post(format!("{node}/v1/token/login")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "token login");
    r.json().await.unwrap()
}

/// Session login: (cookie header value, CSRF token).
async fn session_login(http: &Client, node: &str) -> (String, String) {
    let body = json!({"username": "prop", "password": PASSWORD});
    let r = http.post(format!("{node}/v1/session/login")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "session login");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    (cookie, v["csrf_token"].as_str().unwrap().to_owned())
}

/// Logs in for `kind` on `a`: the credential the others will watch, and the
/// revoking request to send on `a`.
async fn prepare(http: &Client, a: &str, kind: &str) -> (String, bool, reqwest::RequestBuilder) {
    match kind {
        "logout" => {
            let (cookie, csrf) = session_login(http, a).await;
            let req = http
                .post(format!("{a}/v1/session/logout"))
                .header("cookie", &cookie)
                .header("x-csrf-token", csrf)
                .header("origin", a);
            (cookie, false, req)
        }
        _ => {
            let t = token_login(http, a).await;
            let token = t["access_token"].as_str().unwrap().to_owned();
            let req = match kind {
                "revoke" => http
                    .post(format!("{a}/oauth/revoke"))
                    .form(&[("token", token.as_str()), ("client_id", "tessera")]),
                "logout_all" => http.post(format!("{a}/v1/logout-all")).bearer_auth(&token),
                _ => {
                    let list: Value = http
                        .get(format!("{a}/v1/sessions"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let current = list["sessions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|s| s["current"] == true)
                        .unwrap();
                    let id = current["id"].as_str().unwrap();
                    http.delete(format!("{a}/v1/sessions/{id}")).bearer_auth(&token)
                }
            };
            (token, true, req)
        }
    }
}

/// One round: milliseconds from sending the revocation to A until the last
/// other node refused.
async fn round(http: &Client, nodes: &[String], kind: &str) -> Option<f64> {
    let a = &nodes[0];
    let (cred, bearer, revoke) = prepare(http, a, kind).await;
    let watchers: Vec<_> = nodes[1..]
        .iter()
        .map(|node| {
            let c = if bearer { Credential::Bearer(&cred) } else { Credential::Cookie(&cred) };
            (node, c)
        })
        .collect();
    for (node, c) in &watchers {
        let r = with(http.get(format!("{node}/v1/verify")), *c).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{node} accepts before the revocation");
    }
    let tasks: Vec<_> = nodes[1..]
        .iter()
        .map(|n| tokio::spawn(until_refused(http.clone(), n.clone(), cred.clone(), bearer)))
        .collect();
    let sent = Instant::now();
    let status = revoke.send().await.unwrap().status();
    assert!(status.is_success(), "{kind} on {a}: {status}");
    let mut last = sent;
    for t in tasks {
        last = last.max(t.await.unwrap()?);
    }
    Some(last.saturating_duration_since(sent).as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(samples: &mut [f64]) -> Value {
    samples.sort_by(f64::total_cmp);
    json!({
        "n": samples.len(),
        "p50_ms": percentile(samples, 50.0),
        "p99_ms": percentile(samples, 99.0),
        "max_ms": samples.last().copied().unwrap_or(0.0),
    })
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let nodes: Vec<String> = arg("--nodes").unwrap().split(',').map(str::to_owned).collect();
    assert!(nodes.len() >= 2, "--nodes needs at least two");
    let rounds: usize = arg("--rounds").map_or(1000, |r| r.parse().unwrap());
    let out = arg("--out").unwrap_or_else(|| "bench/results/propagation".into());
    let http = Client::builder().pool_max_idle_per_host(8).build().unwrap();
    let mut all = Vec::new();
    let mut by_kind: Vec<Vec<f64>> = vec![Vec::new(); KINDS.len()];
    let mut failed = 0;
    for i in 0..rounds {
        match round(&http, &nodes, KINDS[i % KINDS.len()]).await {
            Some(ms) => {
                all.push(ms);
                by_kind[i % KINDS.len()].push(ms);
            }
            None => failed += 1,
        }
    }
    let mut report = json!({
        "nodes": nodes.len(),
        "rounds": rounds,
        "not_honoured_within_5s": failed,
        "all": summary(&mut all),
    });
    let mut md = String::from(
        "Milliseconds from sending the revocation to node 1 until every other node \
         refuses the credential.\n\n| revocation | n | p50 ms | p99 ms | max ms |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for (kind, samples) in KINDS.iter().zip(&mut by_kind) {
        let s = summary(samples);
        md += &format!(
            "| {kind} | {} | {:.2} | {:.2} | {:.2} |\n",
            s["n"],
            s["p50_ms"].as_f64().unwrap(),
            s["p99_ms"].as_f64().unwrap(),
            s["max_ms"].as_f64().unwrap()
        );
        report[kind] = s;
    }
    let s = &report["all"];
    md += &format!(
        "| **all** | {} | {:.2} | {:.2} | {:.2} |\n\nRounds not honoured within 5 s: {failed}.\n",
        s["n"],
        s["p50_ms"].as_f64().unwrap(),
        s["p99_ms"].as_f64().unwrap(),
        s["max_ms"].as_f64().unwrap()
    );
    std::fs::write(format!("{out}.json"), serde_json::to_string_pretty(&report).unwrap()).unwrap();
    std::fs::write(format!("{out}.md"), &md).unwrap();
    print!("{md}");
}
