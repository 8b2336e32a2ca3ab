//! A TCP forwarder a test can cut and restore: one process's link to a
//! store (PostgreSQL, Redis), shared by the integration tests that take a
//! store away from a running node.

#![allow(dead_code, reason = "each test binary uses the part it needs")]

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A TCP forwarder the test can cut (every connection closed, new ones
/// refused at once) and restore: the node's link to its database.
pub struct CutLink {
    /// The local port to connect to instead of the target.
    pub port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl CutLink {
    /// Forwards a new local port to `target` (`host:port`).
    pub fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, open2) = (Arc::clone(&up), Arc::clone(&open));
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                let outbound = match TcpStream::connect(&target) {
                    Ok(s) if up2.load(Ordering::SeqCst) => s,
                    _ => {
                        let _ = inbound.shutdown(Shutdown::Both);
                        continue;
                    }
                };
                open2.lock().unwrap().push(inbound.try_clone().unwrap());
                open2.lock().unwrap().push(outbound.try_clone().unwrap());
                let (in2, out2) = (inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                std::thread::spawn(move || pipe(inbound, outbound));
                std::thread::spawn(move || pipe(out2, in2));
            }
        });
        Self { port, up, open }
    }

    /// `redis://` at the local port, for a link to Redis.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Closes every connection; new ones are closed at once.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
