//! One connection's byte stream and message loop: what pgwire's `process_socket` does, with
//! the bounds it lacks.
//!
//! pgwire buffers a message whole before it looks at it, up to a gigabyte, whoever sends it:
//! a client that has not logged in could make the server hold 1 GB per connection. Here every
//! message's length is read from its header as the bytes arrive, before they are buffered:
//! before login a message may be at most [`MAX_LOGIN_MESSAGE`] bytes, after it
//! [`MAX_MESSAGE`]; a longer one ends the connection with `54000` (as PostgreSQL's own limit
//! of 1 GB does). A client that stops reading what the server sends (a result, a `COPY`)
//! holds its session no longer than [`WRITE_STALL`]; a logged-in session that sends nothing
//! for the idle timeout is closed with `57P05`, as PostgreSQL's `idle_session_timeout` does,
//! so idle pools do not keep the session slots forever.
//!
//! TLS and `SSLRequest` negotiation stay pgwire's (`negotiate_tls`), and so does every
//! message's handling (`process_message`): only the stream under the codec and the loop
//! around it are convlake's.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion_postgres::pgwire;
use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{process_error, process_message};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio_util::codec::{Framed, FramedParts};

/// Longest message a client may send before it has logged in (a startup packet, a password,
/// a SCRAM exchange are a few hundred bytes).
pub const MAX_LOGIN_MESSAGE: usize = 16 << 10;

/// Longest message a logged-in client may send: a statement, a `Parse`, a `Bind` with its
/// parameters (PostgreSQL allows 1 GB; BI tools' statements are well under a megabyte).
pub const MAX_MESSAGE: usize = 16 << 20;

/// Longest the server waits for a client to take any of what it sends before it closes the
/// connection (or the statement timeout, when that is shorter).
pub const WRITE_STALL: Duration = Duration::from_secs(60);

/// Serves one accepted connection: TLS negotiation, login and statements, until the client
/// leaves, breaks a bound, stops taking what is sent for `stall`, or stays idle past `idle`
/// once logged in. `logged_in` turns true at login (it chooses the message limit).
pub async fn serve_connection<H: PgWireServerHandlers>(
    tcp: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handlers: H,
    logged_in: watch::Receiver<bool>,
    idle: Duration,
    stall: Duration,
) -> io::Result<()> {
    let Some(negotiated) = pgwire::tokio::server::negotiate_tls(tcp, tls).await? else {
        return Ok(());
    };
    // Negotiation may have read the start of the startup packet: the bytes it holds are
    // counted before any new one.
    let parts = negotiated.into_parts();
    let mut frames = Frames::default();
    if let Err(e) = frames.scan(&parts.read_buf, MAX_LOGIN_MESSAGE) {
        return Err(e.into());
    }
    let io = Bounded {
        inner: parts.io,
        frames,
        logged_in: logged_in.clone(),
        stall,
        stalled: None,
    };
    let mut next = FramedParts::new(io, parts.codec);
    next.read_buf = parts.read_buf;
    next.write_buf = parts.write_buf;
    let mut socket = Framed::from_parts(next);

    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    loop {
        let message = if *logged_in.borrow() {
            match tokio::time::timeout(idle, socket.next()).await {
                Ok(message) => message,
                Err(_) => {
                    let error = ErrorInfo::new(
                        "FATAL".into(),
                        "57P05".into(),
                        format!(
                            "terminating connection due to idle-session timeout ({} s without a statement; the server's --pg-idle-timeout)",
                            idle.as_secs()
                        ),
                    );
                    return farewell(&mut socket, error).await;
                }
            }
        } else {
            socket.next().await
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(PgWireError::IoError(e))) => {
                if let Some(long) = e.get_ref().and_then(|e| e.downcast_ref::<TooLong>()) {
                    let error = ErrorInfo::new("FATAL".into(), "54000".into(), long.to_string());
                    return farewell(&mut socket, error).await;
                }
                return Err(e);
            }
            Some(Err(e)) => {
                // A message pgwire cannot decode: said to the client, then the connection ends.
                let error: ErrorInfo = e.into();
                return farewell(&mut socket, error).await;
            }
            None => return Ok(()),
        };
        // Terminate ends the connection (a client may wait for the server to close first).
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            return Ok(());
        }
        let extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        if let Err(mut e) = process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await
        {
            handlers.error_handler().on_error(&socket, &mut e);
            process_error(&mut socket, e, extended_query).await?;
        }
    }
}

/// Sends a last error and closes the connection.
async fn farewell<S, C>(socket: &mut Framed<S, C>, error: ErrorInfo) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: tokio_util::codec::Encoder<PgWireBackendMessage, Error = io::Error>,
{
    // The client may be gone or not reading: the farewell is best effort.
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        socket.send(PgWireBackendMessage::ErrorResponse(error.into())),
    )
    .await;
    Ok(())
}

/// A message longer than the connection's limit.
#[derive(Debug)]
struct TooLong {
    length: usize,
    limit: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a message of {} bytes is longer than this server takes ({} bytes{}); send a shorter statement",
            self.length,
            self.limit,
            if self.limit == MAX_LOGIN_MESSAGE {
                " before login"
            } else {
                ""
            }
        )
    }
}

impl std::error::Error for TooLong {}

impl From<TooLong> for io::Error {
    fn from(e: TooLong) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Where the client's byte stream is in its messages: the first one (the startup packet or a
/// cancel request) has no type byte, every later one has one; each header gives the length.
#[derive(Debug, Default)]
struct Frames {
    /// Past the first message: headers are a type byte and a length.
    typed: bool,
    /// The header read so far.
    header: [u8; 5],
    /// How many bytes of the header are read.
    have: usize,
    /// Body bytes of the current message still to come.
    body: usize,
}

impl Frames {
    /// Follows `bytes` through the messages; a header announcing more than `limit` bytes is
    /// refused before its body is read.
    fn scan(&mut self, mut bytes: &[u8], limit: usize) -> Result<(), TooLong> {
        while !bytes.is_empty() {
            if self.body > 0 {
                let n = self.body.min(bytes.len());
                self.body -= n;
                bytes = &bytes[n..];
                continue;
            }
            let size = if self.typed { 5 } else { 4 };
            let n = (size - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == size {
                let field = &self.header[size - 4..size];
                let length = u32::from_be_bytes([field[0], field[1], field[2], field[3]]) as usize;
                if length > limit {
                    return Err(TooLong { length, limit });
                }
                // The length counts itself; one below 4 is pgwire's to refuse.
                self.body = length.saturating_sub(4);
                self.have = 0;
                self.typed = true;
            }
        }
        Ok(())
    }
}

/// The connection's stream, with every message's length checked as it arrives and writes
/// that make no progress for its `stall` failed.
struct Bounded<S> {
    inner: S,
    frames: Frames,
    logged_in: watch::Receiver<bool>,
    /// Longest a write may wait.
    stall: Duration,
    /// Since when the pending write has waited.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Bounded<S> {
    /// Fails a write or flush that has been pending past the stall limit.
    fn check_stall<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll {
            Poll::Pending => {
                let stall = self.stall;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the client took nothing the server sent for {} s",
                            self.stall.as_secs()
                        ),
                    )));
                }
                Poll::Pending
            }
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let limit = if *this.logged_in.borrow() {
                MAX_MESSAGE
            } else {
                MAX_LOGIN_MESSAGE
            };
            if let Err(e) = this.frames.scan(&buf.filled()[before..], limit) {
                return Poll::Ready(Err(e.into()));
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.check_stall(cx, poll)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.check_stall(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(kind: u8, body: usize) -> Vec<u8> {
        let mut message = vec![kind];
        message.extend_from_slice(&((body + 4) as u32).to_be_bytes());
        message.extend(std::iter::repeat_n(b'x', body));
        message
    }

    #[test]
    fn messages_are_followed_across_any_split_and_a_long_one_is_refused_by_its_header() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&12u32.to_be_bytes());
        stream.extend_from_slice(&[0, 3, 0, 0, b'u', 0, 0, 0]);
        stream.extend(typed(b'p', 100));
        stream.extend(typed(b'Q', 1000));
        for split in [1, 2, 3, 7, 64, stream.len()] {
            let mut frames = Frames::default();
            for chunk in stream.chunks(split) {
                frames.scan(chunk, 2000).unwrap();
            }
            assert_eq!((frames.have, frames.body), (0, 0), "split {split}");
            // The next header announces 1 GB: refused after its fifth byte, whatever the split.
            let long = typed(b'Q', 0);
            let mut header = long.clone();
            header[1..5].copy_from_slice(&(1u32 << 30).to_be_bytes());
            let refused = header
                .chunks(split)
                .map(|c| frames.scan(c, 2000))
                .find(Result::is_err);
            let error = refused.expect("refused").unwrap_err();
            assert_eq!((error.length, error.limit), (1 << 30, 2000));
        }
    }

    #[test]
    fn a_message_at_the_limit_passes() {
        let mut frames = Frames {
            typed: true,
            ..Frames::default()
        };
        frames.scan(&typed(b'Q', 96), 100).unwrap();
        assert!(frames.scan(&typed(b'Q', 97)[..5], 100).is_err());
    }
}
