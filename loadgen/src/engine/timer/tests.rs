//! The timer against the clock: precise and coarse, deadlines moved, cleared and dropped.

use std::time::Duration;

use super::*;

/// A spin wide enough for the tests' deadlines 10 and 15 µs apart.
const WIDE_SPIN_NS: u64 = 20_000;

/// Runs `f` with a fresh timer (made by `make`, within the runtime) and its
/// driver on a current-thread runtime, as a worker thread does.
fn with_timer<F, Fut>(make: fn() -> Rc<PreciseTimer>, f: F)
where
    F: FnOnce(Rc<PreciseTimer>) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let timer = make();
        let driver = tokio::task::spawn_local(timer.clone().drive());
        f(timer).await;
        driver.abort();
    });
}

/// Every kind of timer: precise (with its spin, [`SPIN_NS`]), precise and
/// polling for every deadline up to [`WIDE_SPIN_NS`] ahead, and coarse.
fn each_timer(f: impl Fn(Rc<PreciseTimer>) -> Pin<Box<dyn Future<Output = ()>>>) {
    with_timer(PreciseTimer::new, &f);
    with_timer(|| PreciseTimer::with_spin(WIDE_SPIN_NS), &f);
    with_timer(PreciseTimer::new_coarse, &f);
}

fn noop_waker() -> Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    Waker::from(std::sync::Arc::new(Noop))
}

/// Shuffled offsets, in ms, deterministic.
fn offsets(n: u64, spread_ms: u64) -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % spread_ms
        })
        .collect()
}

/// A task sleeping until each deadline: every one wakes, none early, in
/// deadline order.
async fn sleep_each(timer: &Rc<PreciseTimer>, deadlines: Vec<Instant>) {
    let woke = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = deadlines
        .iter()
        .map(|&deadline| {
            let (timer, woke) = (timer.clone(), woke.clone());
            tokio::task::spawn_local(async move {
                sleep_until(&timer, deadline).await;
                woke.borrow_mut().push((deadline, Instant::now()));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let woke = woke.borrow();
    assert_eq!(woke.len(), deadlines.len());
    for (deadline, at) in woke.iter() {
        assert!(at >= deadline, "woken {:?} early", deadline.duration_since(*at));
    }
    assert!(woke.windows(2).all(|w| w[0].0 < w[1].0), "woken out of deadline order");
}

#[test]
fn deadlines_fire_in_order_and_never_early() {
    each_timer(|timer| {
        Box::pin(async move {
            let start = Instant::now() + Duration::from_millis(30);
            // Distinct deadlines: ms plus a µs tie-breaker.
            let deadlines = offsets(50, 40)
                .into_iter()
                .enumerate()
                .map(|(i, ms)| start + Duration::from_millis(ms) + Duration::from_micros(i as u64));
            sleep_each(&timer, deadlines.collect()).await;
            assert_eq!(timer.queued(), 0);
        })
    });
}

#[test]
fn a_past_deadline_fires_at_once_without_the_driver() {
    // No runtime driver involved: the first poll is ready.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _enter = rt.enter();
    for timer in [PreciseTimer::new(), PreciseTimer::new_coarse()] {
        let slot = timer.slot();
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        for past in [Instant::now(), Instant::now() - Duration::from_millis(5), timer.base] {
            slot.set(Some(past));
            assert!(slot.poll_expired(&mut cx).is_ready());
            // Seen once; not again until set again.
            assert!(slot.poll_expired(&mut cx).is_pending());
        }
        assert_eq!(timer.queued(), 0, "a past deadline goes nowhere near the heap");
        let mut fut = std::pin::pin!(slot.sleep_until(Instant::now()));
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    }
}

#[test]
fn many_waiters_all_wake() {
    each_timer(|timer| {
        Box::pin(async move {
            let start = Instant::now() + Duration::from_millis(5);
            let count = Rc::new(Cell::new(0));
            let tasks: Vec<_> = offsets(2000, 30)
                .into_iter()
                .enumerate()
                .map(|(i, ms)| {
                    let deadline = start + Duration::from_millis(ms) + Duration::from_nanos(i as u64 * 7);
                    let (timer, count) = (timer.clone(), count.clone());
                    tokio::task::spawn_local(async move {
                        let slot = timer.slot();
                        // Several deadlines in a row on one slot.
                        for k in 0..3 {
                            let d = deadline + Duration::from_micros(k * 300);
                            slot.sleep_until(d).await;
                            assert!(Instant::now() >= d);
                        }
                        count.set(count.get() + 1);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(count.get(), 2000);
            assert_eq!(timer.queued(), 0);
            let inner = timer.inner.borrow();
            assert_eq!(inner.free.len(), inner.slots.len(), "every slot released");
        })
    });
}

#[test]
fn a_dropped_waiter_is_not_woken_and_its_slot_is_reused() {
    each_timer(|timer| {
        Box::pin(async move {
            let soon = Instant::now() + Duration::from_millis(200);
            // A waiter dropped before its deadline (a timeout won the race).
            let dropped = tokio::time::timeout(Duration::from_millis(1), sleep_until(&timer, soon)).await;
            assert!(dropped.is_err());
            assert_eq!(timer.queued(), 1, "its entry is left for later");
            // The slot is reused; the stale entry does not wake the new owner.
            let slot = timer.slot();
            assert_eq!(slot.index, 0);
            let later = soon + Duration::from_millis(10);
            slot.sleep_until(later).await;
            assert!(Instant::now() >= later, "woken by the dropped waiter's entry");
            assert_eq!(timer.queued(), 0, "the stale entry was skipped and dropped");
        })
    });
}

#[test]
fn moved_deadlines_fire_at_the_last_one_set() {
    each_timer(|timer| {
        Box::pin(async move {
            let slot = timer.slot();
            let now = Instant::now();
            // Later: the first entry stays, and is requeued when it comes up.
            slot.set(Some(now + Duration::from_millis(5)));
            slot.set(Some(now + Duration::from_millis(15)));
            assert_eq!(timer.queued(), 1);
            poll_fn(|cx| slot.poll_expired(cx)).await;
            assert!(Instant::now() >= now + Duration::from_millis(15));
            // Earlier: a new entry; the old one is stale.
            let now = Instant::now();
            slot.set(Some(now + Duration::from_millis(50)));
            slot.set(Some(now + Duration::from_millis(5)));
            assert_eq!(timer.queued(), 2);
            poll_fn(|cx| slot.poll_expired(cx)).await;
            let woke = Instant::now();
            assert!(woke >= now + Duration::from_millis(5));
            // Cleared: nothing fires.
            slot.set(None);
            let quiet = tokio::time::timeout(Duration::from_millis(60), poll_fn(|cx| slot.poll_expired(cx))).await;
            assert!(quiet.is_err(), "a cleared deadline fired");
        })
    });
}

#[test]
fn the_heap_stays_bounded_when_deadlines_move_earlier() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _enter = rt.enter();
    for timer in [PreciseTimer::new(), PreciseTimer::new_coarse()] {
        let slots: Vec<_> = (0..10).map(|_| timer.slot()).collect();
        let far = Instant::now() + Duration::from_secs(3600);
        for k in 0..10_000u64 {
            slots[(k % 10) as usize].set(Some(far - Duration::from_nanos(k)));
            assert!(timer.queued() <= 2 * 10 + 64 + 1);
        }
        drop(slots);
        let s = timer.slot();
        for k in 0..1000u64 {
            s.set(Some(far - Duration::from_nanos(k)));
        }
        assert!(timer.queued() <= 2 * 10 + 64 + 1);
    }
}

#[test]
fn near_deadlines_are_kept_by_polling_not_by_setting_the_clock() {
    // 100 deadlines 10 µs apart: with a spin of 20 µs the clock is set for
    // the first only, and every one still fires in order, none early.
    with_timer(
        || PreciseTimer::with_spin(WIDE_SPIN_NS),
        |timer| async move {
            #[cfg(target_os = "linux")]
            assert!(timer.is_precise());
            let start = Instant::now() + Duration::from_millis(20);
            sleep_each(&timer, (0..100u64).map(|i| start + Duration::from_micros(10 * i)).collect()).await;
            assert!(timer.arms() <= 3, "the clock was set {} times for 100 deadlines 10 µs apart", timer.arms());
        },
    );
}

#[test]
fn the_driver_sets_the_clock_once_for_a_ticks_deadlines() {
    // Each deadline earlier than the last: set one by one, each would move
    // the clock. The driver sets it once, for the earliest.
    with_timer(
        || PreciseTimer::with_spin(0),
        |timer| async move {
            tokio::task::yield_now().await; // the driver's first poll
            let before = timer.arms();
            let now = Instant::now();
            let slots: Vec<_> = (0..50u64).map(|_| timer.slot()).collect();
            for (i, slot) in slots.iter().enumerate() {
                slot.set(Some(now + Duration::from_millis(100 - i as u64)));
            }
            tokio::task::yield_now().await;
            assert_eq!(timer.arms() - before, 1, "the clock was set more than once");
            let earliest = &slots[49];
            poll_fn(|cx| earliest.poll_expired(cx)).await;
            assert!(Instant::now() >= now + Duration::from_millis(51));
        },
    );
}

/// What runs beside the spinning driver in [`spin_run`].
#[derive(Clone, Copy, PartialEq)]
enum Beside {
    Nothing,
    /// A counted task, 2 µs of work at a time.
    Work,
    /// An uncounted task holding the thread 100 µs at a time, asleep: the
    /// thread's CPU clock stops, as when it is descheduled.
    Stall,
}

/// 100 sleeps of 15 µs in a row (within the spin) by one task, wrapped in
/// [`Counted`] or not, beside `beside`; returns (time spun, time elapsed).
fn spin_run(counted_waiter: bool, beside: Beside) -> (Duration, Duration) {
    let out = Rc::new(Cell::new((Duration::ZERO, Duration::ZERO)));
    let result = out.clone();
    with_timer(
        || PreciseTimer::with_spin(WIDE_SPIN_NS),
        move |timer| async move {
            let done = Rc::new(Cell::new(false));
            let busy = (beside != Beside::Nothing).then(|| {
                let done = done.clone();
                let stall = beside == Beside::Stall;
                let task = async move {
                    while !done.get() {
                        if stall {
                            std::thread::sleep(Duration::from_micros(100));
                        }
                        let t = Instant::now();
                        while !stall && t.elapsed() < Duration::from_micros(2) {
                            std::hint::spin_loop();
                        }
                        // Straight back in the queue (tokio's yield_now would
                        // wait for the runtime's next I/O poll).
                        let mut woke = false;
                        poll_fn(|cx| {
                            if std::mem::replace(&mut woke, true) {
                                return Poll::Ready(());
                            }
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        })
                        .await;
                    }
                };
                if stall {
                    tokio::task::spawn_local(Box::pin(task) as Pin<Box<dyn Future<Output = ()>>>)
                } else {
                    tokio::task::spawn_local(Box::pin(Counted(task)) as Pin<Box<dyn Future<Output = ()>>>)
                }
            });
            let start = Instant::now();
            let waiter = {
                let timer = timer.clone();
                async move {
                    for _ in 0..100 {
                        sleep_until(&timer, Instant::now() + Duration::from_micros(15)).await;
                    }
                }
            };
            if counted_waiter {
                tokio::task::spawn_local(Counted(waiter)).await.unwrap();
            } else {
                tokio::task::spawn_local(waiter).await.unwrap();
            }
            done.set(true);
            if let Some(b) = busy {
                b.await.unwrap();
            }
            out.set((timer.spun(), start.elapsed()));
        },
    );
    result.get()
}

#[test]
#[cfg(target_os = "linux")]
fn a_spin_with_nothing_else_to_do_is_idle_time() {
    let (spun, elapsed) = spin_run(false, Beside::Nothing);
    assert!(elapsed >= Duration::from_micros(1500), "100 sleeps of 15 µs took {elapsed:?}");
    assert!(spun <= elapsed);
    assert!(spun * 5 >= elapsed, "only {spun:?} of {elapsed:?} counted as waiting");
}

#[test]
#[cfg(target_os = "linux")]
fn a_spin_beside_work_is_not_idle_time() {
    // Between any two polls of the driver a counted task ran: none of it
    // was idle, though the driver was spinning all along.
    let (spun, elapsed) = spin_run(true, Beside::Work);
    assert!(elapsed >= Duration::from_micros(1500), "100 sleeps of 15 µs took {elapsed:?}");
    assert!(spun * 10 <= elapsed, "{spun:?} of {elapsed:?} counted as waiting beside work");
}

#[test]
#[cfg(target_os = "linux")]
fn a_stalled_thread_is_not_idle_time() {
    // A spin of 1 ms toward deadlines 500 µs apart, and between polls of
    // the driver an uncounted task holding the thread asleep for 100 µs
    // (as if descheduled): the thread's CPU clock did not run, so none of
    // that is taken off its busy time.
    with_timer(
        || PreciseTimer::with_spin(1_000_000),
        |timer| async move {
            let done = Rc::new(Cell::new(false));
            let stall = {
                let done = done.clone();
                tokio::task::spawn_local(async move {
                    while !done.get() {
                        std::thread::sleep(Duration::from_micros(100));
                        tokio::task::yield_now().await;
                    }
                })
            };
            let start = Instant::now();
            for _ in 0..5 {
                sleep_until(&timer, Instant::now() + Duration::from_micros(500)).await;
            }
            done.set(true);
            stall.await.unwrap();
            let (spun, elapsed) = (timer.spun(), start.elapsed());
            assert!(elapsed >= Duration::from_micros(2500), "5 sleeps of 500 µs took {elapsed:?}");
            assert!(spun * 3 <= elapsed, "{spun:?} of {elapsed:?} counted as waiting while the thread stalled");
        },
    );
}
