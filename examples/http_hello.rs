//! The hello server: `GET /plaintext`, `GET /json`, `POST /echo` — the server the HTTP
//! benchmarks and conformance checks run against.
//!
//! ```text
//! cargo run --release --example http_hello               # 127.0.0.1:8080 (--addr, --port or PORT to move it)
//! curl -i http://127.0.0.1:8080/plaintext
//! curl -i http://127.0.0.1:8080/json
//! curl -i -H 'content-type: text/plain' --data 'hi' http://127.0.0.1:8080/echo
//! ```
//! What to look for: `Hello, World!`, a JSON message, your body back, each with `date` and
//! `server: kiln`. Ctrl+C (or `kill <pid>`) stops accepting, lets requests in flight finish,
//! prints how many connections it served, and exits 0.
//! `KILN_BENCH_WORKERS=N` sets the worker threads (default: one per CPU), as for the
//! baselines. `--per-core` runs the per-core model instead of the work-stealing one (one
//! current-thread runtime and one `SO_REUSEPORT` listener per thread), to compare the two.
//! `--service` serves the same endpoints from one async fn instead of the router (the shape
//! of the hyper baseline, to compare like with like).

#[path = "support/args.rs"]
mod args;

#[path = "support/hello_apps.rs"]
mod hello_apps;

use kiln::http::Server;

const USAGE: &str =
    "usage: http_hello [--addr HOST:PORT | --port N] [--per-core | --service]   (default 127.0.0.1:$PORT, or :8080)";

fn main() {
    let args = args::Args::parse(USAGE, &["--addr", "--port"], &["--per-core", "--service"]);
    // Worker threads: KILN_BENCH_WORKERS (as the baselines read it), else one per CPU.
    let workers = std::env::var("KILN_BENCH_WORKERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if args.has("--per-core") {
        per_core(&args, workers);
        return;
    }
    let rt = kiln::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("the runtime starts");
    if args.has("--service") {
        rt.block_on(serve(args, hello_apps::kiln_service::hello));
    } else {
        rt.block_on(serve(args, hello_apps::kiln_app::app()));
    }
}

/// `--addr`, or `--port`, or 127.0.0.1 with `PORT` from the environment, or 127.0.0.1:8080.
fn listen_addr(args: &args::Args) -> String {
    let default_port = match std::env::var("PORT") {
        Ok(p) => p.parse().unwrap_or_else(|_| args.fail(&format!("PORT={p:?} is not a port number"))),
        Err(_) => 8080u16,
    };
    args.listen_addr(default_port)
}

/// The per-core model: one thread per core, each with a current-thread runtime and its own
/// listener on the same port (`SO_REUSEPORT`: the kernel spreads connections over them).
/// No work stealing, no cross-thread wake-ups; a busy core cannot hand work to an idle one.
fn per_core(args: &args::Args, threads: usize) {
    let addr = listen_addr(args);
    let addr: std::net::SocketAddr = addr
        .parse()
        .unwrap_or_else(|_| args.fail(&format!("--per-core needs an IP:PORT address, not {addr:?}")));
    let (stop_tx, stop_rx) = kiln::sync::watch::channel(false);
    let mut bound = addr;
    let mut handles = Vec::new();
    for _ in 0..threads {
        let socket = kiln::net::TcpSocket::new_v4().and_then(|s| {
            s.set_reuseaddr(true)?;
            s.set_reuseport(true)?;
            s.bind(bound)?;
            Ok(s)
        });
        let socket = socket.unwrap_or_else(|e| args.fail(&format!("cannot listen on {bound}: {e}")));
        bound = socket.local_addr().expect("bound"); // port 0: the others join the chosen port
        let mut stop = stop_rx.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        handles.push(std::thread::spawn(move || {
            let rt = kiln::runtime::Builder::new_current_thread().build().expect("the runtime starts");
            rt.block_on(async move {
                let listener = socket.listen(1024).expect("listen");
                let _ = ready_tx.send(());
                Server::from_listener(listener)
                    .serve(hello_apps::kiln_app::app(), async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await
            })
        }));
        ready_rx.recv().expect("the thread starts");
    }
    println!("http_hello: listening on http://{bound} ({threads} threads, one listener each, SO_REUSEPORT)");
    let rt = kiln::runtime::Builder::new_current_thread().build().expect("the runtime starts");
    rt.block_on(async {
        if let Err(e) = kiln::shutdown::terminate_signal().await {
            eprintln!("http_hello: cannot listen for signals ({e})");
            std::future::pending::<()>().await;
        }
    });
    println!("http_hello: shutting down; requests in flight may finish");
    let _ = stop_tx.send(true);
    let connections: u64 = handles.into_iter().map(|h| h.join().expect("a server thread").connections).sum();
    println!("http_hello: done. {connections} connections");
}

async fn serve(args: args::Args, app: impl kiln::http::Service) {
    let addr = listen_addr(&args);
    let server = Server::bind(addr.as_str())
        .await
        .unwrap_or_else(|e| args.fail(&format!("cannot listen on {addr}: {e}")));
    let addr = server.local_addr().expect("a bound server has an address");
    println!("http_hello: listening on http://{addr}");
    println!("http_hello: try `curl -i http://{addr}/plaintext` (also /json, POST /echo); Ctrl+C to stop");
    let summary = server
        .serve(app, async {
            if let Err(e) = kiln::shutdown::terminate_signal().await {
                eprintln!("http_hello: cannot listen for signals ({e})");
                std::future::pending::<()>().await;
            }
            println!("http_hello: shutting down; requests in flight may finish");
        })
        .await;
    println!("http_hello: done. {} connections, {} cut at the deadline", summary.connections, summary.forced);
}
