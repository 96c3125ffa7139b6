//! A real SMTP server on loopback for the mail tests: `mailin`'s protocol
//! state machine over a `std::net::TcpListener`, one thread per
//! connection. It keeps every accepted message (envelope and raw data),
//! can refuse chosen recipients with a permanent `550`, and can be stopped
//! so that connections to its port are refused — what bedside meets when
//! the hospital's relay is down or says no.

use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mailin::{Action, Handler, Response, SessionBuilder};

/// How often [`SmtpServer::wait_for`] looks at what has arrived: short
/// next to the sender's one-second poll, long enough not to spin.
const WAIT_STEP: Duration = Duration::from_millis(10);

/// A client that stops talking half-way (a crashed sender) must not keep
/// its connection thread forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// `MAIL FROM` of the envelope.
    pub from: String,
    /// `RCPT TO` of the envelope, in order.
    pub to: Vec<String>,
    /// The message as sent after `DATA`: headers and body, CRLF line
    /// ends, dot-stuffing undone.
    pub data: Vec<u8>,
}

/// What every connection of one server shares with the test.
#[derive(Debug, Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    /// Recipients (lower case) answered with `550` at `RCPT TO`.
    refuse: Mutex<HashSet<String>>,
    /// Each `RCPT TO` that was refused, in order.
    refused: Mutex<Vec<String>>,
}

/// A panicking test thread must not hide what the server saw.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running SMTP server on 127.0.0.1. Dropping it stops it.
#[derive(Debug)]
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl SmtpServer {
    /// Starts on a free port.
    pub fn start() -> SmtpServer {
        SmtpServer::start_on(0)
    }

    /// Starts on `port` (0: any free port), e.g. the port of a server that
    /// was stopped, as a relay coming back after an outage.
    pub fn start_on(port: u16) -> SmtpServer {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("test SMTP server cannot bind 127.0.0.1:{port}: {e}"));
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let accept = {
            let (shared, stopping) = (shared.clone(), stopping.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    std::thread::spawn(move || {
                        // A client hanging up mid-session is its own business.
                        let _ = serve(stream, &shared);
                    });
                }
                // The listener is dropped here: the port is closed.
            })
        };
        SmtpServer {
            addr,
            shared,
            stopping,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// From now on, `RCPT TO:<address>` is answered with a permanent
    /// `550` that quotes the address, as Postfix does for an unknown user.
    pub fn refuse(&self, address: &str) {
        lock(&self.shared.refuse).insert(address.to_ascii_lowercase());
    }

    /// Every refused `RCPT TO` so far, in order.
    pub fn refused(&self) -> Vec<String> {
        lock(&self.shared.refused).clone()
    }

    /// Every accepted message so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// Waits until at least `n` messages have arrived, or `timeout` has
    /// passed, and returns what has arrived: a bounded wait for the
    /// sender, so the caller asserts on the count it expects.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    /// Closes the listening socket: once this returns, connections to the
    /// port are refused. Sessions already open finish normally.
    pub fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocked accept so the thread sees the flag and drops
        // the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        accept.join().expect("the accept thread ends cleanly");
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One SMTP session: greet, then feed each line to the state machine and
/// write back what it answers.
fn serve(stream: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let peer = stream.peer_addr()?.ip();
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let collector = Collector {
        shared: shared.clone(),
        from: String::new(),
        to: Vec::new(),
        data: Vec::new(),
    };
    let mut session = SessionBuilder::new("test-smtp").build(peer, collector);
    reply(&mut writer, &session.greeting())?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let response = session.process(&line);
        match response.action {
            Action::Reply => reply(&mut writer, &response)?,
            Action::NoReply => {}
            // QUIT, or STARTTLS (never used: bedside speaks plain SMTP
            // only to a relay on this machine).
            Action::Close | Action::UpgradeTls => {
                reply(&mut writer, &response)?;
                return Ok(());
            }
        }
    }
}

/// Writes a reply in one piece: `Response::write_to` writes code, text and
/// line end separately, and small writes meeting the client's delayed ACK
/// cost some 40 ms each — a third of a second per mail.
fn reply(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    let mut bytes = Vec::new();
    response.write_to(&mut bytes)?;
    stream.write_all(&bytes)
}

/// The handler of one connection: decides on recipients and collects
/// the message being sent.
struct Collector {
    shared: Arc<Shared>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn rcpt(&mut self, to: &str) -> Response {
        if lock(&self.shared.refuse).contains(&to.to_ascii_lowercase()) {
            lock(&self.shared.refused).push(to.to_string());
            return Response::custom(
                550,
                format!("5.1.1 <{to}>: Recipient address rejected: User unknown"),
            );
        }
        mailin::response::OK
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mut received = lock(&self.shared.received);
        received.push(Received {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        });
        Response::custom(250, format!("2.0.0 Ok: queued as {}", received.len()))
    }
}
