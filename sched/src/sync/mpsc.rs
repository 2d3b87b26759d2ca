//! Multi-producer, single-consumer channels that park coroutines, not
//! threads, shaped like `std::sync::mpsc`: [`channel`] (unbounded) and
//! [`sync_channel`] (bounded; capacity 0 is a rendezvous).
//!
//! ```
//! use corio_sched::sync::mpsc;
//!
//! corio_sched::run(|| {
//!     let (tx, rx) = mpsc::sync_channel(1);
//!     for id in 0..3 {
//!         let tx = tx.clone();
//!         corio_sched::spawn(move || tx.send(id).unwrap());
//!     }
//!     drop(tx);
//!     let mut got: Vec<i32> = rx.iter().collect(); // ends when all senders are gone
//!     got.sort();
//!     assert_eq!(got, [0, 1, 2]);
//! });
//! ```
//!
//! # Design
//! One internal spin lock guards the buffer, the counts and two wait lists
//! (held for a few instructions, never across a park). Messages are handed
//! over directly where that keeps order and fairness: a sender that finds a
//! parked receiver puts the message into that receiver's wait node; a
//! receiver that frees a slot of a full channel moves the oldest parked
//! sender's message into the buffer and wakes that sender (so senders are
//! served in FIFO order and a new sender cannot overtake a parked one); on a
//! rendezvous channel the receiver takes the message straight out of the
//! parked sender's node.
//!
//! # Cancellation and deadlines
//! A coroutine parked in a channel operation is woken when it is cancelled
//! or its deadline scope (`with_deadline`) passes:
//! - `recv` returns [`RecvError::Interrupted`] / [`RecvError::Timeout`], and
//!   `recv_timeout`/`recv_deadline` return [`RecvTimeoutError::Interrupted`]
//!   / [`RecvTimeoutError::Timeout`] (a deadline scope and the call's own
//!   timeout both give `Timeout`). So `for msg in rx.iter()` ends when the
//!   coroutine is cancelled.
//! - [`SyncSender::send`] hands the message back in a [`SendError`], as for
//!   a disconnected channel (`SendError` has no room for a reason, like
//!   std's); [`SyncSender::send_timeout`] and
//!   [`SyncSender::send_deadline`] say which it was ([`SendTimeoutError`]).
//!
//! No message is lost: if a message was handed to a receiver just as that
//! receiver was cancelled, it goes back to the front of the channel; if a
//! parked sender's message was taken just as it was cancelled or timed out,
//! the send counts as done and returns `Ok`.
//!
//! Plain threads use the same channels (they block); there is no
//! cancellation or deadline scope for them.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::spin::{SpinGuard, SpinLock};
use super::wait::{Outcome, Queue, WaitList, Wakeups, deadline_after, lock, wait};

/// Capacity of an unbounded channel.
const UNBOUNDED: usize = usize::MAX;

/// Creates an unbounded channel: `send` never blocks.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(UNBOUNDED);
    (Sender { chan: chan.clone() }, Receiver::new(chan))
}

/// Creates a channel that buffers at most `bound` messages: `send` parks
/// while it is full. With `bound == 0` every `send` waits until the receiver
/// takes its message (a rendezvous).
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = Chan::new(bound);
    (SyncSender { chan: chan.clone() }, Receiver::new(chan))
}

/// The shared channel.
struct Chan<T> {
    state: SpinLock<State<T>>,
}

/// Everything behind the channel's lock.
pub(crate) struct State<T> {
    /// Messages not yet received, oldest first. Non-empty implies no
    /// receiver is parked.
    buf: VecDeque<T>,
    /// Most messages `buf` holds before senders park (`UNBOUNDED`, or 0 for
    /// a rendezvous). `buf` may exceed it by messages handed back by
    /// cancelled receivers.
    cap: usize,
    /// Live `Sender`/`SyncSender` values.
    senders: usize,
    /// The `Receiver` is alive.
    receiver: bool,
    /// Parked receivers; a sender may leave a message in a chosen node.
    recv: WaitList<Option<T>>,
    /// Parked senders with their message; a receiver takes it (leaving
    /// `None`) when it chooses the node; a node chosen with the message
    /// still in it means the receiver disconnected.
    send: WaitList<Option<T>>,
}

impl<T> State<T> {
    /// Puts `msg` into the oldest parked receiver's node, unlocks and wakes
    /// it.
    #[cold]
    fn hand_to_receiver(mut this: SpinGuard<'_, Self>, msg: T) {
        let (slot, waker) = this.recv.choose().expect("a parked receiver");
        *slot = Some(msg);
        drop(this);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Takes the next message from parked senders when the buffer alone
    /// cannot serve the receiver (rare: the channel was full, or it is a
    /// rendezvous): `msg` is the message already popped from the buffer, if
    /// any; the oldest sender's message refills the buffer or is the
    /// message. Unlocks and wakes that sender.
    #[cold]
    fn take_from_sender(mut this: SpinGuard<'_, Self>, msg: Option<T>) -> Option<T> {
        let (slot, waker) = this.send.choose()?;
        let theirs = slot.take().expect("a parked sender holds its message");
        let msg = match msg {
            Some(msg) => {
                this.buf.push_back(theirs);
                msg
            }
            None => theirs,
        };
        drop(this);
        if let Some(w) = waker {
            w.wake();
        }
        Some(msg)
    }
}

impl<T> Chan<T> {
    fn new(cap: usize) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: SpinLock::new(State {
                buf: VecDeque::new(),
                cap,
                senders: 1,
                receiver: true,
                recv: WaitList::new(),
                send: WaitList::new(),
            }),
        })
    }

    /// Sends `msg`, parking while the channel is full if `block`.
    fn send(&self, msg: T, block: bool, deadline: Option<Instant>) -> Result<(), Failed<T>> {
        let mut s = lock(&self.state);
        if !s.receiver {
            return Err(Failed::Disconnected(msg));
        }
        if !s.recv.is_empty() {
            State::hand_to_receiver(s, msg);
            return Ok(());
        }
        if s.buf.len() < s.cap {
            s.buf.push_back(msg);
            return Ok(());
        }
        if !block {
            return Err(Failed::Full(msg));
        }
        match wait(
            &SendSide(self),
            s,
            Some(msg),
            false,
            "channel send",
            deadline,
            || {},
        ) {
            // Taken by the receiver (possibly just as the wait failed).
            Outcome::Chosen(None) | Outcome::Aborted(None, _) => Ok(()),
            Outcome::Chosen(Some(msg)) => Err(Failed::Disconnected(msg)),
            Outcome::Aborted(Some(msg), e) => Err(Failed::Abandoned(msg, e)),
        }
    }

    /// Receives a message, parking while the channel is empty if `block`.
    fn recv(&self, block: bool, deadline: Option<Instant>) -> Result<T, Failed<()>> {
        loop {
            let mut s = lock(&self.state);
            if let Some(msg) = s.buf.pop_front() {
                if s.send.is_empty() || s.buf.len() >= s.cap {
                    return Ok(msg);
                }
                return Ok(State::take_from_sender(s, Some(msg)).expect("a message"));
            }
            if !s.send.is_empty() {
                return Ok(State::take_from_sender(s, None).expect("a message"));
            }
            if s.senders == 0 {
                return Err(Failed::Disconnected(()));
            }
            if !block {
                return Err(Failed::Full(()));
            }
            match wait(
                &RecvSide(self),
                s,
                None,
                false,
                "channel recv",
                deadline,
                || {},
            ) {
                Outcome::Chosen(Some(msg)) => return Ok(msg),
                // Woken because the last sender left: look again.
                Outcome::Chosen(None) => {}
                Outcome::Aborted(_, e) => return Err(Failed::Abandoned((), e)),
            }
        }
    }
}

/// Why a channel operation did not complete.
enum Failed<T> {
    /// The other side is gone.
    Disconnected(T),
    /// Would have to wait (full when sending, empty when receiving).
    Full(T),
    /// The wait ended with this error (`TimedOut`, `Interrupted`).
    Abandoned(T, io::Error),
}

/// The channel seen as its receivers' wait queue.
struct RecvSide<'a, T>(&'a Chan<T>);

impl<T> Queue for RecvSide<'_, T> {
    type State = State<T>;
    type Data = Option<T>;

    fn state(&self) -> &SpinLock<State<T>> {
        &self.0.state
    }

    fn list(state: &mut State<T>) -> &mut WaitList<Option<T>> {
        &mut state.recv
    }

    fn abandon(&self, s: &mut State<T>, slot: &mut Option<T>, _: bool, wake: &mut Wakeups) {
        // A message was handed to us as we left: give it to the next parked
        // receiver, or put it back at the front.
        let Some(msg) = slot.take() else { return };
        match s.recv.choose() {
            Some((next, waker)) => {
                *next = Some(msg);
                wake.push(waker);
            }
            None => s.buf.push_front(msg),
        }
    }
}

/// The channel seen as its senders' wait queue.
struct SendSide<'a, T>(&'a Chan<T>);

impl<T> Queue for SendSide<'_, T> {
    type State = State<T>;
    type Data = Option<T>;

    fn state(&self) -> &SpinLock<State<T>> {
        &self.0.state
    }

    fn list(state: &mut State<T>) -> &mut WaitList<Option<T>> {
        &mut state.send
    }

    fn abandon(&self, _: &mut State<T>, _: &mut Option<T>, _: bool, _: &mut Wakeups) {
        // The message (if not taken) stays in the slot: the caller gets it
        // back.
    }
}

/// Drops a sender's share of the channel; the last one wakes receivers.
fn drop_sender<T>(chan: &Chan<T>) {
    let mut wake = Wakeups::default();
    let mut s = lock(&chan.state);
    s.senders -= 1;
    if s.senders == 0 {
        while let Some((_, waker)) = s.recv.choose() {
            wake.push(waker);
        }
    }
    drop(s);
    wake.wake();
}

fn clone_sender<T>(chan: &Arc<Chan<T>>) -> Arc<Chan<T>> {
    lock(&chan.state).senders += 1;
    chan.clone()
}

/// The sending half of an unbounded [`channel`]. Clone it for more
/// producers; it can be sent to and shared between threads.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Queues `msg`; never blocks.
    ///
    /// # Errors
    /// `SendError(msg)` if the receiver was dropped.
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        match self.chan.send(msg, false, None) {
            Ok(()) => Ok(()),
            Err(Failed::Disconnected(msg) | Failed::Full(msg) | Failed::Abandoned(msg, _)) => {
                Err(SendError(msg))
            }
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender {
            chan: clone_sender(&self.chan),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        drop_sender(&self.chan);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender { .. }")
    }
}

/// The sending half of a bounded [`sync_channel`]. Clone it for more
/// producers; it can be sent to and shared between threads.
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> SyncSender<T> {
    /// Sends `msg`, parking while the channel is full (on a rendezvous
    /// channel: until the receiver takes it).
    ///
    /// # Errors
    /// `SendError(msg)` if the receiver was dropped, and also when a
    /// coroutine parked here is cancelled or its deadline scope passes
    /// (use [`SyncSender::send_deadline`] to tell these apart).
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.send_until(msg, None)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Sends `msg` if that is possible without waiting: there is room in
    /// the buffer, or (rendezvous) a receiver is waiting.
    ///
    /// # Errors
    /// `Full(msg)` if the message would have to wait, `Disconnected(msg)`
    /// if the receiver was dropped.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        match self.chan.send(msg, false, None) {
            Ok(()) => Ok(()),
            Err(Failed::Disconnected(msg)) => Err(TrySendError::Disconnected(msg)),
            Err(Failed::Full(msg) | Failed::Abandoned(msg, _)) => Err(TrySendError::Full(msg)),
        }
    }

    /// Like [`SyncSender::send`], waiting at most `timeout`.
    ///
    /// # Errors
    /// `Timeout(msg)` when the timeout or the coroutine's deadline scope
    /// passes first, `Interrupted(msg)` when the coroutine is cancelled,
    /// `Disconnected(msg)` if the receiver was dropped.
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, deadline_after(timeout))
    }

    /// Like [`SyncSender::send_timeout`], with a deadline.
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, Some(deadline))
    }

    fn send_until(&self, msg: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        match self.chan.send(msg, true, deadline) {
            Ok(()) => Ok(()),
            Err(Failed::Disconnected(msg) | Failed::Full(msg)) => {
                Err(SendTimeoutError::Disconnected(msg))
            }
            Err(Failed::Abandoned(msg, e)) if e.kind() == io::ErrorKind::Interrupted => {
                Err(SendTimeoutError::Interrupted(msg))
            }
            Err(Failed::Abandoned(msg, _)) => Err(SendTimeoutError::Timeout(msg)),
        }
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> SyncSender<T> {
        SyncSender {
            chan: clone_sender(&self.chan),
        }
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        drop_sender(&self.chan);
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyncSender { .. }")
    }
}

/// The receiving half of a channel. It can be sent to another thread but
/// not shared between threads (coroutines of one thread may share it, e.g.
/// through an `Rc`; they are then served in FIFO order).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// `Send` but not `Sync`, like std's receiver.
    _not_sync: PhantomData<Cell<()>>,
}

impl<T> Receiver<T> {
    fn new(chan: Arc<Chan<T>>) -> Receiver<T> {
        Receiver {
            chan,
            _not_sync: PhantomData,
        }
    }

    /// Receives the next message, parking while the channel is empty.
    ///
    /// # Errors
    /// `Disconnected` when the channel is empty and every sender was
    /// dropped; inside a coroutine, `Interrupted` when it is cancelled and
    /// `Timeout` when its deadline scope passes.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(true, None).map_err(|e| match e {
            Failed::Disconnected(()) | Failed::Full(()) => RecvError::Disconnected,
            Failed::Abandoned((), e) if e.kind() == io::ErrorKind::Interrupted => {
                RecvError::Interrupted
            }
            Failed::Abandoned((), _) => RecvError::Timeout,
        })
    }

    /// Receives a message if one is ready, without waiting.
    ///
    /// # Errors
    /// `Empty` if none is ready, `Disconnected` if none will come.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.recv(false, None).map_err(|e| match e {
            Failed::Disconnected(()) => TryRecvError::Disconnected,
            Failed::Full(()) | Failed::Abandoned((), _) => TryRecvError::Empty,
        })
    }

    /// Like [`Receiver::recv`], waiting at most `timeout`.
    ///
    /// # Errors
    /// `Timeout` when the timeout (or the coroutine's deadline scope)
    /// passes first; `Disconnected` and `Interrupted` as for `recv`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline_after(timeout))
    }

    /// Like [`Receiver::recv_timeout`], with a deadline.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(deadline))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        self.chan.recv(true, deadline).map_err(|e| match e {
            Failed::Disconnected(()) | Failed::Full(()) => RecvTimeoutError::Disconnected,
            Failed::Abandoned((), e) if e.kind() == io::ErrorKind::Interrupted => {
                RecvTimeoutError::Interrupted
            }
            Failed::Abandoned((), _) => RecvTimeoutError::Timeout,
        })
    }

    /// An iterator that receives until [`Receiver::recv`] fails (all
    /// senders gone, or the coroutine cancelled or out of time).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages ready now; it never waits.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

impl<T> Drop for Receiver<T> {
    /// Disconnects: senders fail from now on, parked senders get their
    /// messages back, and buffered messages are dropped.
    fn drop(&mut self) {
        let mut wake = Wakeups::default();
        let mut s = lock(&self.chan.state);
        s.receiver = false;
        let buffered = std::mem::take(&mut s.buf);
        while let Some((_, waker)) = s.send.choose() {
            wake.push(waker);
        }
        drop(s);
        wake.wake();
        drop(buffered);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receiver { .. }")
    }
}

/// Blocking iterator over received messages, from [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator over ready messages, from [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator, from `Receiver::into_iter`.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

/// A message could not be sent; here it is back. Returned when the receiver
/// was dropped (and by [`SyncSender::send`] also when its wait was
/// cancelled or ran out of time).
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError { .. }")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed channel")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`SyncSender::try_send`] failed; the message comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The channel is full (rendezvous: no receiver is waiting).
    Full(T),
    /// The receiver was dropped.
    Disconnected(T),
}

impl<T> TrySendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(t) | TrySendError::Disconnected(t) => t,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Disconnected(_) => f.write_str("sending on a closed channel"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> TrySendError<T> {
        TrySendError::Disconnected(e.0)
    }
}

/// Why [`SyncSender::send_timeout`] / [`SyncSender::send_deadline`]
/// failed; the message comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    /// The timeout or the coroutine's deadline scope passed first.
    Timeout(T),
    /// The receiver was dropped.
    Disconnected(T),
    /// The coroutine was cancelled.
    Interrupted(T),
}

impl<T> SendTimeoutError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(t)
            | SendTimeoutError::Disconnected(t)
            | SendTimeoutError::Interrupted(t) => t,
        }
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Disconnected(_) => f.write_str("Disconnected(..)"),
            SendTimeoutError::Interrupted(_) => f.write_str("Interrupted(..)"),
        }
    }
}

impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("timed out waiting on send operation"),
            SendTimeoutError::Disconnected(_) => f.write_str("sending on a closed channel"),
            SendTimeoutError::Interrupted(_) => f.write_str("send interrupted by cancellation"),
        }
    }
}

impl<T> std::error::Error for SendTimeoutError<T> {}

/// Why [`Receiver::recv`] returned no message.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvError {
    /// The channel is empty and every sender was dropped.
    Disconnected,
    /// The receiving coroutine was cancelled.
    Interrupted,
    /// The receiving coroutine's deadline scope passed.
    Timeout,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvError::Disconnected => "receiving on a closed channel",
            RecvError::Interrupted => "receive interrupted by cancellation",
            RecvError::Timeout => "deadline of the enclosing scope passed while receiving",
        })
    }
}

impl std::error::Error for RecvError {}

impl From<RecvError> for io::Error {
    /// `BrokenPipe`, `Interrupted` or `TimedOut`.
    fn from(e: RecvError) -> io::Error {
        let kind = match e {
            RecvError::Disconnected => io::ErrorKind::BrokenPipe,
            RecvError::Interrupted => io::ErrorKind::Interrupted,
            RecvError::Timeout => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, e)
    }
}

/// Why [`Receiver::try_recv`] returned no message.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// No message is ready, but senders remain.
    Empty,
    /// The channel is empty and every sender was dropped.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "receiving on an empty channel",
            TryRecvError::Disconnected => "receiving on a closed channel",
        })
    }
}

impl std::error::Error for TryRecvError {}

/// Why [`Receiver::recv_timeout`] / [`Receiver::recv_deadline`] returned
/// no message.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvTimeoutError {
    /// The timeout or the coroutine's deadline scope passed first.
    Timeout,
    /// The channel is empty and every sender was dropped.
    Disconnected,
    /// The receiving coroutine was cancelled.
    Interrupted,
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvTimeoutError::Timeout => "timed out waiting on channel",
            RecvTimeoutError::Disconnected => "channel is empty and sending half is closed",
            RecvTimeoutError::Interrupted => "receive interrupted by cancellation",
        })
    }
}

impl std::error::Error for RecvTimeoutError {}

impl From<RecvTimeoutError> for io::Error {
    /// `TimedOut`, `BrokenPipe` or `Interrupted`.
    fn from(e: RecvTimeoutError) -> io::Error {
        let kind = match e {
            RecvTimeoutError::Timeout => io::ErrorKind::TimedOut,
            RecvTimeoutError::Disconnected => io::ErrorKind::BrokenPipe,
            RecvTimeoutError::Interrupted => io::ErrorKind::Interrupted,
        };
        io::Error::new(kind, e)
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(e: RecvError) -> RecvTimeoutError {
        match e {
            RecvError::Disconnected => RecvTimeoutError::Disconnected,
            RecvError::Interrupted => RecvTimeoutError::Interrupted,
            RecvError::Timeout => RecvTimeoutError::Timeout,
        }
    }
}
