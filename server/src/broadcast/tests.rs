//! The topic registry and fan-out, without sockets.

use std::task::{Wake, Waker};

use super::*;

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn take(m: &mut Membership, budget: usize) -> (Poll<Result<(), TooSlow>>, Vec<u8>) {
    let mut out = Outbox::new();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let poll = m.poll_take(&mut cx, &mut out, budget);
    (poll, out.to_vec(&[]))
}

#[test]
fn topic_names_are_bounded_and_plain() {
    assert_eq!(&*topic_from_query(None).unwrap(), DEFAULT_TOPIC);
    assert_eq!(&*topic_from_query(Some("mode=broadcast")).unwrap(), DEFAULT_TOPIC);
    assert_eq!(&*topic_from_query(Some("mode=broadcast&topic=run-1.a_b~")).unwrap(), "run-1.a_b~");
    let long = "t".repeat(MAX_TOPIC_LEN);
    assert_eq!(&*topic_from_query(Some(&format!("topic={long}"))).unwrap(), long);
    for bad in ["topic=", "topic", "topic=a%20b", "topic=a/b", &format!("topic={long}x"), "topic=a&topic=b"] {
        assert_eq!(topic_from_query(Some(bad)).unwrap_err().name, "topic", "{bad}");
    }
}

#[test]
fn every_member_gets_each_frame_once_and_topics_go_with_their_last_member() {
    let metrics = Arc::new(Metrics::default());
    let topics = Arc::new(Topics::new(metrics.clone(), 1 << 20, usize::MAX));
    let mut a = topics.join("t".into());
    let mut b = topics.join("t".into());
    let mut c = topics.join("other".into());
    assert_eq!((metrics.broadcast.snapshot().topics, metrics.broadcast.snapshot().members), (2, 3));
    a.publish(MessageKind::Text, b"hi");
    b.publish(MessageKind::Binary, b"yo");
    for m in [&mut a, &mut b] {
        let (poll, bytes) = take(m, usize::MAX);
        assert!(matches!(poll, Poll::Ready(Ok(()))));
        assert_eq!(bytes, [&[0x81, 2][..], b"hi", &[0x82, 2], b"yo"].concat());
    }
    assert!(take(&mut c, usize::MAX).0.is_pending(), "topics are isolated");
    let snapshot = metrics.broadcast.snapshot();
    assert_eq!((snapshot.published, snapshot.deliveries), (2, 4));
    drop((a, b));
    assert_eq!((metrics.broadcast.snapshot().topics, metrics.broadcast.snapshot().members), (1, 1));
    assert!(!topics.state.lock().unwrap().topics.contains_key("t"), "no topic left without members");
    drop(c);
    assert_eq!((metrics.broadcast.snapshot().topics, metrics.broadcast.snapshot().members), (0, 0));
}

#[test]
fn a_member_past_its_backpressure_is_cut_off_not_waited_for() {
    let metrics = Arc::new(Metrics::default());
    let topics = Arc::new(Topics::new(metrics.clone(), 100, usize::MAX));
    let mut reader = topics.join("t".into());
    let mut idle = topics.join("t".into());
    for _ in 0..3 {
        reader.publish(MessageKind::Binary, &[7; 40]);
        let (poll, bytes) = take(&mut reader, usize::MAX);
        assert!(matches!(poll, Poll::Ready(Ok(()))));
        assert_eq!(bytes.len(), 42);
    }
    // The idle member holds 126 bytes queued: the third frame passed 100.
    assert!(matches!(take(&mut idle, usize::MAX).0, Poll::Ready(Err(TooSlow))));
    assert_eq!(metrics.broadcast.snapshot().slow_disconnects, 1);
    reader.publish(MessageKind::Binary, &[7; 40]);
    assert_eq!(metrics.broadcast.snapshot().deliveries, 3 + 2 + 1, "nothing more is queued to it");
    assert_eq!(take(&mut reader, usize::MAX).1.len(), 42);
    // Written (the next take releases it): one frame larger than the bound
    // alone still goes to an empty queue.
    assert!(take(&mut reader, usize::MAX).0.is_pending());
    reader.publish(MessageKind::Binary, &[1; 300]);
    assert_eq!(take(&mut reader, usize::MAX).1.len(), 304);
    assert_eq!(metrics.broadcast.snapshot().slow_disconnects, 1);
}

/// A frame is charged to the memory budget once, however many members
/// hold it, until the last lets it go; one the budget cannot take is not
/// published (its publisher gets 1013). A member alone in its topic that
/// never reads held every frame it published, outside the budget.
#[test]
fn frames_are_charged_once_until_the_last_member_lets_go() {
    let metrics = Arc::new(Metrics::default());
    let topics = Arc::new(Topics::new(metrics.clone(), 1 << 20, 1000));
    let mut a = topics.join("t".into());
    let mut b = topics.join("t".into());
    assert!(a.publish(MessageKind::Binary, &[1; 600]));
    let held = metrics.memory_held();
    assert!((600..700).contains(&held), "charged once for two members: {held}");
    assert!(!a.publish(MessageKind::Binary, &[2; 600]), "past the budget");
    assert_eq!(metrics.memory_held(), held, "a refused frame holds nothing");
    let (_, got) = take(&mut a, 1 << 20);
    assert_eq!(got.len(), held);
    assert_eq!(metrics.memory_held(), held, "b still holds it");
    let (_, got) = take(&mut b, 1 << 20);
    assert_eq!(got.len(), held);
    assert_eq!(metrics.memory_held(), 0, "written by both: released");
}
