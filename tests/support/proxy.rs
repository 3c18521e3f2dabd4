//! A TCP proxy between stations and the server that breaks connections after a random number
//! of bytes (seeded), or shapes them to a slow link: the network a mobile team really has.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to each connection.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Each connection is cut, with probability `p`, after a number of bytes (both directions
    /// together) drawn uniformly below `max_bytes`.
    Cut { p: f64, max_bytes: usize, seed: u64 },
    /// A link of `bits_per_sec` in each direction with `rtt` round trips.
    Shape { bits_per_sec: u64, rtt: Duration },
}

/// A running proxy.
pub struct FaultProxy {
    pub url: String,
    /// Connections cut so far.
    pub cuts: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream`.
    pub async fn start(upstream: SocketAddr, plan: Plan) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let cuts = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(match &plan {
            Plan::Cut { seed, .. } => *seed,
            Plan::Shape { .. } => 0,
        })));
        let (c, b) = (cuts.clone(), bytes.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let budget = match &plan {
                    Plan::Cut { p, max_bytes, .. } => {
                        let mut r = rng.lock().expect("rng");
                        if r.random_bool(*p) {
                            Some(r.random_range(0..*max_bytes))
                        } else {
                            None
                        }
                    }
                    Plan::Shape { .. } => None,
                };
                let plan = plan.clone();
                let (c, b) = (c.clone(), b.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    relay(client, server, budget, plan, c, b).await;
                });
            }
        });
        FaultProxy { url, cuts, bytes }
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    budget: Option<usize>,
    plan: Plan,
    cuts: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
) {
    let moved = Arc::new(AtomicU64::new(0));
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pipe(cr, sw, budget, plan.clone(), moved.clone(), bytes.clone());
    let down = pipe(sr, cw, budget, plan, moved, bytes);
    // When either direction ends (or is cut), both sockets are dropped.
    let cut = tokio::select! {
        c = up => c,
        c = down => c,
    };
    if cut {
        cuts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Copies one direction; returns true if it cut the connection.
async fn pipe(
    from: tokio::net::tcp::OwnedReadHalf,
    to: tokio::net::tcp::OwnedWriteHalf,
    budget: Option<usize>,
    plan: Plan,
    moved: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
) -> bool {
    match plan {
        Plan::Shape { bits_per_sec, rtt } => {
            shaped(from, to, bits_per_sec, rtt / 2, bytes).await;
            false
        }
        Plan::Cut { .. } => cutting(from, to, budget, moved, bytes).await,
    }
}

async fn cutting(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    budget: Option<usize>,
    moved: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if let Some(limit) = budget {
            let before = moved.fetch_add(n as u64, Ordering::Relaxed) as usize;
            if before + n > limit {
                let _ = to.write_all(&buf[..limit.saturating_sub(before)]).await;
                return true;
            }
        }
        bytes.fetch_add(n as u64, Ordering::Relaxed);
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
    }
}

/// A link with a bandwidth and a one-way delay: each chunk leaves when the link is free and
/// its bits are sent, and arrives `one_way` later; chunks are in flight together.
async fn shaped(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    bits_per_sec: u64,
    one_way: Duration,
    bytes: Arc<AtomicU64>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 4 * 1024];
        let mut link_free = tokio::time::Instant::now();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let start = link_free.max(tokio::time::Instant::now());
            link_free = start + Duration::from_secs_f64(n as f64 * 8.0 / bits_per_sec as f64);
            if tx.send((link_free + one_way, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(reader, writer);
}
