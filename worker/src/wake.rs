//! Wakes a queue's consumer the moment a task becomes available, instead of on its next poll
//! tick (docs/DESIGN.md, "Jobs": wake on push).
//!
//! apalis-redis 1.0's push script PUBLISHes `tasks:{queue}:active:available` only for a task
//! without a time, and its push always gives one (now at the earliest), so every task lands in
//! the scheduled set; its own factory cannot route our queue names either (it splits channel
//! names on ':'). So `jobs::push` publishes on that channel for a task due now, the promoter
//! when it moves due scheduled tasks, and this process subscribes itself: one subscription
//! connection, one signal per queue, fed to the consumer's poll strategy.
//! The poll interval stays as the fallback: a lost message or a reconnect costs one tick, never
//! a task.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use futures::StreamExt;
use futures::task::AtomicWaker;
use weelo_shared::cache::Keys;
use weelo_shared::shutdown::Shutdown;

use crate::jobs;

/// The channel apalis-redis publishes on when a task of queue `name` becomes available.
pub fn channel(keys: &Keys, name: &str) -> String {
    format!("tasks:{}:available", jobs::queue_config(keys, name).active_jobs_list())
}

/// Tells every process's consumers of queue `name` that a task is due. A failure costs one
/// poll interval, never the task: it is logged and counted.
pub async fn publish<C: redis::aio::ConnectionLike + Send>(conn: &mut C, keys: &Keys, name: &str) {
    let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH").arg(channel(keys, name)).arg(1).query_async(conn).await;
    if let Err(e) = sent {
        metrics::counter!("job_wake_publish_errors_total", "queue" => name.to_owned()).increment(1);
        tracing::warn!(queue = name, error = %e, "could not publish a wake-up; the queue's poll picks the task up");
    }
}

#[derive(Default)]
struct Inner {
    waker: AtomicWaker,
    set: AtomicBool,
}

/// A stream that yields once per wake-up (several wake-ups before a poll count as one).
#[derive(Clone, Default)]
pub struct Signal(Arc<Inner>);

impl Signal {
    pub fn wake(&self) {
        self.0.set.store(true, Ordering::Release);
        self.0.waker.wake();
    }
}

impl Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let inner = &self.0;
        if inner.set.swap(false, Ordering::AcqRel) {
            return Poll::Ready(Some(()));
        }
        // Registered before the second look, so a wake between the two is never lost.
        inner.waker.register(cx.waker());
        if inner.set.swap(false, Ordering::AcqRel) { Poll::Ready(Some(())) } else { Poll::Pending }
    }
}

/// Every queue's signal, by the channel that wakes it.
pub struct Wakers {
    by_channel: HashMap<String, Signal>,
    by_queue: HashMap<&'static str, Signal>,
}

impl Wakers {
    pub fn new(keys: &Keys) -> Arc<Self> {
        let (mut by_channel, mut by_queue) = (HashMap::new(), HashMap::new());
        for name in jobs::QUEUES.iter().copied() {
            let signal = Signal::default();
            by_channel.insert(channel(keys, name), signal.clone());
            by_queue.insert(name, signal);
        }
        Arc::new(Self { by_channel, by_queue })
    }

    /// The signal of queue `name` (a queue not in `QUEUES` gets one nothing wakes).
    pub fn signal(&self, name: &str) -> Signal {
        self.by_queue.get(name).cloned().unwrap_or_default()
    }

    fn wake_all(&self) {
        self.by_queue.values().for_each(Signal::wake);
    }

    /// Subscribes and wakes queues until shutdown; reconnects with a growing pause when the
    /// connection drops (and wakes every queue then, for what was published meanwhile).
    pub async fn run(self: Arc<Self>, redis_url: String, shutdown: Shutdown) {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.listen(&redis_url, &shutdown).await {
                Ok(()) => return,
                Err(e) => {
                    metrics::counter!("job_wake_reconnects_total").increment(1);
                    tracing::warn!(error = %format!("{e:#}"), "job wake-up subscription lost; queues fall back to polling");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.wait() => return,
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Ok when shutdown ended it; Err when the subscription failed or ended.
    async fn listen(&self, redis_url: &str, shutdown: &Shutdown) -> anyhow::Result<()> {
        let client = redis::Client::open(redis_url)?;
        let mut pubsub = client.get_async_pubsub().await?;
        for channel in self.by_channel.keys() {
            pubsub.subscribe(channel).await?;
        }
        tracing::debug!(queues = self.by_channel.len(), "job wake-up subscription ready");
        self.wake_all();
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let Some(msg) = msg else { anyhow::bail!("subscription closed") };
                    if let Some(signal) = self.by_channel.get(msg.get_channel_name()) {
                        signal.wake();
                    }
                }
                _ = shutdown.wait() => return Ok(()),
            }
        }
    }
}
