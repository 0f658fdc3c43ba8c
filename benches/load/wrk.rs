//! Runs `wrk` against a loopback URL and reads its report; measures the CPU time the server
//! processes spent meanwhile.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One `wrk` run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx/3xx responses plus socket errors.
    pub errors: u64,
    /// CPU (user + system) of the server's processes per request, in microseconds.
    pub cpu_us: f64,
}

/// How to drive a target.
pub struct Load<'a> {
    pub url: &'a str,
    pub cookie: Option<&'a str>,
    pub connections: usize,
    pub duration: Duration,
    /// Milliseconds each connection waits before each request (a paced, lower rate).
    pub delay_ms: Option<u64>,
    /// Where to write wrk's Lua script when pacing.
    pub scratch: &'a Path,
}

/// Runs wrk (one thread) and charges the CPU of `pids` (and their children) to it.
pub fn run(load: &Load, pids: &[u32]) -> Result<Run, String> {
    let mut cmd = Command::new("wrk");
    cmd.arg("-t1")
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("5s")
        .arg("--latency");
    if let Some(cookie) = load.cookie {
        cmd.arg("-H").arg(format!("Cookie: {cookie}"));
    }
    if let Some(ms) = load.delay_ms {
        let script = load.scratch.join("paced.lua");
        std::fs::write(&script, format!("function delay()\n  return {ms}\nend\n"))
            .map_err(|e| format!("wrk script: {e}"))?;
        cmd.arg("-s").arg(script);
    }
    cmd.arg(load.url);
    let before = cpu_ticks(pids);
    let out = cmd.output().map_err(|e| format!("wrk: {e}"))?;
    let after = cpu_ticks(pids);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut run = parse(&text).ok_or_else(|| format!("cannot read wrk's report:\n{text}"))?;
    if run.requests > 0 {
        let ticks = after.saturating_sub(before) as f64;
        run.cpu_us = ticks / clock_ticks_per_second() * 1e6 / run.requests as f64;
    }
    Ok(run)
}

/// Reads wrk 4's report.
pub fn parse(text: &str) -> Option<Run> {
    let mut run = Run::default();
    let mut seen_rps = false;
    for line in text.lines() {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => run.p50_ms = millis(v)?,
            ["99%", v] => run.p99_ms = millis(v)?,
            ["Requests/sec:", v] => {
                run.rps = v.parse().ok()?;
                seen_rps = true;
            }
            [n, "requests", "in", ..] => run.requests = n.parse().ok()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => run.errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                for pair in rest.chunks(2) {
                    if let [_, n] = pair {
                        run.errors += n.trim_end_matches(',').parse::<u64>().ok()?;
                    }
                }
            }
            _ => {}
        }
    }
    seen_rps.then_some(run)
}

/// "512.00us", "1.20ms", "2.00s" -> milliseconds.
fn millis(v: &str) -> Option<f64> {
    let (n, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    n.parse::<f64>().ok().map(|x| x * scale)
}

fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux architecture guichet runs on.
    100.0
}

/// utime + stime of `pids` and of their direct children (nginx's workers), in clock ticks.
pub fn cpu_ticks(pids: &[u32]) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((ppid, ticks)) = stat(pid) else {
            continue;
        };
        if pids.contains(&pid) || pids.contains(&ppid) {
            total += ticks;
        }
    }
    total
}

/// (parent pid, utime + stime) from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}
