//! The streaming client of `bench/run.py`: opens N chat-completion streams at
//! once over plain HTTP/1.1 and reports, as one JSON line, the time to the
//! first event and to `[DONE]` (milliseconds, p50 and p99).
//!
//! With `--hold SECONDS`, it instead keeps N streams open, prints `ready`
//! once every stream has had its first event, and closes them after SECONDS
//! (the benchmark reads the relay's memory in between).
//!
//! Usage: `bench_sse HOST:PORT STREAMS [--hold SECONDS] [--model NAME]`

#![allow(clippy::print_stdout)] // its output is the report

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Timing {
    first: Duration,
    total: Duration,
}

async fn stream(
    addr: &str,
    model: &str,
    hold: Option<Duration>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> std::io::Result<Timing> {
    let body = format!(r#"{{"model":"{model}","stream":true,"messages":[{{"role":"user","content":"hi"}}]}}"#);
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let started = Instant::now();
    let mut socket = TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    socket.write_all(request.as_bytes()).await?;
    let mut seen = Vec::with_capacity(16 * 1024);
    let mut buffer = [0u8; 16 * 1024];
    let mut first = None;
    loop {
        let read = socket.read(&mut buffer).await?;
        if read == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the stream ended before [DONE]"));
        }
        seen.extend_from_slice(&buffer[..read]);
        if first.is_none() && contains(&seen, b"data: {") {
            first = Some(started.elapsed());
            let _ = ready.send(()).await;
            if let Some(hold) = hold {
                tokio::time::sleep(hold).await;
                return Ok(Timing { first: started.elapsed(), total: started.elapsed() });
            }
        }
        if contains(&seen[seen.len().saturating_sub(read + 16)..], b"data: [DONE]") {
            let first = first.unwrap_or_default();
            return Ok(Timing { first, total: started.elapsed() });
        }
        if seen.len() > 1 << 20 {
            seen.drain(..seen.len() - 64);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let count: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(50);
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let hold = flag("--hold").and_then(|s| s.parse().ok()).map(Duration::from_secs);
    let model = flag("--model").unwrap_or_else(|| if hold.is_some() { "slow".into() } else { "bench".into() });
    let (ready, mut readies) = tokio::sync::mpsc::channel(count.max(1));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (addr, model, ready) = (addr.clone(), model.clone(), ready.clone());
            tokio::spawn(async move { stream(&addr, &model, hold, ready).await })
        })
        .collect();
    drop(ready);
    if hold.is_some() {
        for _ in 0..count {
            if readies.recv().await.is_none() {
                break;
            }
        }
        println!("ready");
    }
    let mut firsts = Vec::with_capacity(count);
    let mut totals = Vec::with_capacity(count);
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(timing)) => {
                firsts.push(timing.first.as_secs_f64() * 1000.0);
                totals.push(timing.total.as_secs_f64() * 1000.0);
            }
            _ => failed += 1,
        }
    }
    firsts.sort_by(f64::total_cmp);
    totals.sort_by(f64::total_cmp);
    println!(
        r#"{{"streams":{count},"failed":{failed},"first_p50":{:.3},"first_p99":{:.3},"total_p50":{:.3},"total_p99":{:.3}}}"#,
        percentile(&firsts, 0.5),
        percentile(&firsts, 0.99),
        percentile(&totals, 0.5),
        percentile(&totals, 0.99)
    );
    Ok(())
}
