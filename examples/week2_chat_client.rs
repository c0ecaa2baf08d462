//! Week 2: a terminal client for the chat server: lines you type go to the server, lines the
//! server sends are printed. No extra tool needed.
//!
//! ```text
//! cargo run --example week2_chat                     # first terminal
//! cargo run --example week2_chat_client              # second terminal (--addr to choose)
//! ```
//! Type `/help`. End with `/quit` or Ctrl+D. What to look for: a second client in another
//! terminal sees your messages as you send them, and `/history` replays the room after a
//! server restart. It speaks plain lines, so it also talks to `week2_echo` (`--addr
//! 127.0.0.1:7000`).
//!
//! Standard input has no readiness notifications worth using, so a plain thread reads it and
//! hands lines to the async side through an `mpsc` channel (`blocking_send`): the usual way to
//! bring a blocking source into async code.

#[path = "support/args.rs"]
mod args;

use kiln::frame::{write_line, LineReader};
use kiln::net::TcpStream;
use kiln::sync::mpsc;

const USAGE: &str = "usage: week2_chat_client [--addr HOST:PORT]";

#[kiln::main]
async fn main() {
    let args = args::Args::parse(USAGE, &["--addr"], &[]);
    let addr: String = args.get("--addr", "127.0.0.1:7070".to_owned());
    let stream = TcpStream::connect(addr.as_str())
        .await
        .unwrap_or_else(|e| args.fail(&format!("cannot connect to {addr}: {e} (is week2_chat running?)")));
    let (read, mut write) = stream.into_split();

    let (tx, mut typed) = mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break; // the connection is gone
            }
        }
    });

    let mut incoming = LineReader::new(read, 64 * 1024);
    let mut stdin_open = true;
    loop {
        kiln::select! {
            line = incoming.next_line() => match line {
                Ok(Some(line)) => println!("{line}"),
                Ok(None) => {
                    println!("(server closed the connection)");
                    break;
                }
                Err(e) if e.is_recoverable() => eprintln!("(skipped a line: {e})"),
                Err(e) => {
                    eprintln!("(connection error: {e})");
                    std::process::exit(1);
                }
            },
            line = typed.recv(), if stdin_open => match line {
                Some(line) => {
                    if let Err(e) = write_line(&mut write, &line).await {
                        eprintln!("(cannot send: {e})");
                        std::process::exit(1);
                    }
                }
                None => {
                    // Ctrl+D: leave politely, then wait for the server to close.
                    stdin_open = false;
                    let _ = write_line(&mut write, "/quit").await;
                }
            },
        }
    }
}
