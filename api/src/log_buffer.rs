//! Log lines collected in memory and written by one thread in batches, as nginx's
//! `access_log … buffer= flush=` does. A request appends its line to a shared buffer under a
//! mutex and goes on; the writer thread is woken only when the buffer goes from empty to not
//! empty (or fills), then lets lines gather for up to `flush_every` before one `write(2)`. The
//! channel-fed writer this replaced woke its thread for nearly every line at moderate rates: a
//! futex wake, two context switches and a `write(2)` per request on a 2-core node.
//!
//! Not lossy: when `max_pending` bytes wait because the output is slow, writers wait for room
//! rather than a security event being dropped. Dropping the guard writes what is left.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// How long the first line of a batch may wait for others.
    pub flush_every: Duration,
    /// A batch this large is written at once.
    pub flush_at: usize,
    /// Writers wait while this much is pending.
    pub max_pending: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            flush_every: Duration::from_millis(50),
            flush_at: 64 * 1024,
            max_pending: 4 * 1024 * 1024,
        }
    }
}

struct State {
    pending: Vec<u8>,
    closing: bool,
}

struct Shared {
    state: Mutex<State>,
    /// The writer thread waits here for lines.
    lines: Condvar,
    /// Writers wait here for room.
    room: Condvar,
    batching: Batching,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the buffer intact: keep logging.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, line: &[u8]) {
        let mut state = self.lock();
        while state.pending.len() >= self.batching.max_pending && !state.closing {
            state = self
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let was_empty = state.pending.is_empty();
        state.pending.extend_from_slice(line);
        let full = state.pending.len() >= self.batching.flush_at;
        drop(state);
        if was_empty || full {
            self.lines.notify_one();
        }
    }

    /// The next batch, swapped into `batch`; false once closing and nothing is left.
    fn next_batch(&self, batch: &mut Vec<u8>) -> bool {
        let mut state = self.lock();
        while state.pending.is_empty() && !state.closing {
            state = self
                .lines
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let deadline = Instant::now() + self.batching.flush_every;
        while state.pending.len() < self.batching.flush_at && !state.closing {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            state = self
                .lines
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut state.pending, batch);
        let more = !(batch.is_empty() && state.closing);
        drop(state);
        self.room.notify_all();
        more
    }
}

/// The writer side: a `MakeWriter` for the log layer.
#[derive(Clone)]
pub struct LogBuffer {
    shared: Arc<Shared>,
}

/// Keeps the writer thread; dropping it writes what is pending and stops the thread.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the thread that writes batches to `out`.
pub fn spawn<W: Write + Send + 'static>(
    name: &str,
    mut out: W,
    batching: Batching,
) -> io::Result<(LogBuffer, FlushGuard)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            pending: Vec::with_capacity(batching.flush_at * 2),
            closing: false,
        }),
        lines: Condvar::new(),
        room: Condvar::new(),
        batching,
    });
    let worker = shared.clone();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let mut batch = Vec::with_capacity(batching.flush_at * 2);
            let mut failed = false;
            while worker.next_batch(&mut batch) {
                if let Err(e) = out.write_all(&batch).and_then(|()| out.flush()) {
                    // Said once: a full disk would otherwise print this for every batch.
                    if !failed {
                        eprintln!("cannot write the log: {e}");
                    }
                    failed = true;
                }
                batch.clear();
            }
        })?;
    Ok((
        LogBuffer {
            shared: shared.clone(),
        },
        FlushGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.lines.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's line: the log layer formats it whole and writes it with one `write_all`.
pub struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(&self.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    /// An output the test reads back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An output that holds each write until the test sends `open`, saying when one is waiting.
    struct Gated {
        sink: Sink,
        entered: mpsc::Sender<()>,
        open: mpsc::Receiver<()>,
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.entered.send(());
            let _ = self.open.recv();
            self.sink.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn text(sink: &Sink) -> String {
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn every_line_of_every_thread_arrives_whole_and_in_its_order() {
        let sink = Sink::default();
        let (buffer, guard) = spawn("test-log", sink.clone(), Batching::default()).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let buffer = buffer.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        let line = format!("thread {t} line {i} {}\n", "x".repeat(i % 300));
                        buffer.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let mut next = [0usize; 8];
        let out = text(&sink);
        for line in out.lines() {
            let mut words = line.split(' ');
            let t: usize = words.nth(1).unwrap().parse().unwrap();
            let i: usize = words.nth(1).unwrap().parse().unwrap();
            assert_eq!(i, next[t], "thread {t} out of order");
            assert_eq!(words.next().unwrap_or(""), "x".repeat(i % 300));
            next[t] += 1;
        }
        assert_eq!(next, [2_000; 8]);
    }

    #[test]
    fn a_line_is_written_while_the_process_runs_on() {
        let sink = Sink::default();
        let (buffer, _guard) = spawn("test-log", sink.clone(), Batching::default()).unwrap();
        buffer.make_writer().write_all(b"one line\n").unwrap();
        for _ in 0..500 {
            if text(&sink) == "one line\n" {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the line was not written within 10 s: {:?}", text(&sink));
    }

    #[test]
    fn writers_wait_for_a_slow_output_instead_of_dropping_or_growing() {
        let sink = Sink::default();
        let (entered_tx, entered) = mpsc::channel();
        let (open, open_rx) = mpsc::channel();
        let out = Gated {
            sink: sink.clone(),
            entered: entered_tx,
            open: open_rx,
        };
        let batching = Batching {
            flush_every: Duration::from_millis(1),
            flush_at: 10,
            max_pending: 100,
        };
        let (buffer, guard) = spawn("test-log", out, batching).unwrap();
        // The first line becomes a batch the output holds; then 100 bytes may wait, no more.
        buffer.make_writer().write_all(b"first-line\n").unwrap();
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (buffer, accepted) = (buffer.clone(), accepted.clone());
            std::thread::spawn(move || {
                for i in 0..50 {
                    buffer
                        .make_writer()
                        .write_all(format!("line-{i:04}\n").as_bytes())
                        .unwrap();
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        // Ten 10-byte lines fill the 100 bytes; the eleventh waits.
        for _ in 0..500 {
            if accepted.load(Ordering::SeqCst) >= 10 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(accepted.load(Ordering::SeqCst), 10);
        assert!(!writer.is_finished());
        for _ in 0..100 {
            let _ = open.send(());
        }
        writer.join().unwrap();
        drop(guard);
        let out = text(&sink);
        let expected: String = std::iter::once("first-line\n".to_owned())
            .chain((0..50).map(|i| format!("line-{i:04}\n")))
            .collect();
        assert_eq!(out, expected);
    }
}
