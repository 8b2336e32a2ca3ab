//! The harness itself works: a server starts, a user registers and logs in.

mod support;

use support::*;

#[tokio::test]
async fn harness_register_login_whoami() {
    let s = TestServer::start().await;
    let login = s.user_session("alice").await;
    let res = s.whoami(&login.secret).await;
    assert_eq!(res.status(), 200);
}
