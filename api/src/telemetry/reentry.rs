//! Entering the span a thread is already in, at the top of its stack, as the no-op it is.
//!
//! sqlx 0.9 wraps each of its row streams in the span current when the stream is made
//! (`in_current_span` in its `try_stream!`), and a statement's rows pass through three of them.
//! So every row enters and leaves the request's span three times over, while the request is in it
//! already. Through the layered subscriber each of those is a call into every layer, the filter's
//! lock and the registry's span stack: 11% of a page read's instructions (docs/BENCHMARKS.md). The
//! registry makes nothing of such an enter (the current span stays, no reference is taken), so
//! [`SkipReentry`] counts them per thread instead and passes on only the enters and exits that
//! change what is current.

use std::any::TypeId;
use std::cell::RefCell;

use thread_local::ThreadLocal;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span;

pub struct SkipReentry<S> {
    inner: S,
    /// Per thread, the spans entered through `inner` (innermost last), each with how many times it
    /// was entered again while it was the innermost.
    stacks: ThreadLocal<RefCell<Vec<(span::Id, usize)>>>,
}

impl<S> SkipReentry<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            stacks: ThreadLocal::new(),
        }
    }
}

impl<S: Subscriber> Subscriber for SkipReentry<S> {
    fn enter(&self, id: &span::Id) {
        {
            let mut stack = self.stacks.get_or_default().borrow_mut();
            if let Some((top, again)) = stack.last_mut()
                && top == id
            {
                *again += 1;
                return;
            }
            stack.push((id.clone(), 0));
        }
        // Outside the borrow: a layer may enter spans of its own here.
        self.inner.enter(id);
    }

    fn exit(&self, id: &span::Id) {
        if let Some(stack) = self.stacks.get() {
            let mut stack = stack.borrow_mut();
            // Spans may be left out of order; the registry then pops the innermost entry for the
            // id, and so does this.
            if let Some(at) = stack.iter().rposition(|(entered, _)| entered == id) {
                if let Some((_, again @ 1..)) = stack.get_mut(at) {
                    *again -= 1;
                    return;
                }
                stack.remove(at);
            }
        }
        self.inner.exit(id);
    }

    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber)
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn new_span(&self, span: &span::Attributes<'_>) -> span::Id {
        self.inner.new_span(span)
    }

    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        self.inner.record(span, values)
    }

    fn record_follows_from(&self, span: &span::Id, follows: &span::Id) {
        self.inner.record_follows_from(span, follows)
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.inner.event_enabled(event)
    }

    fn event(&self, event: &Event<'_>) {
        self.inner.event(event)
    }

    fn clone_span(&self, id: &span::Id) -> span::Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: span::Id) -> bool {
        self.inner.try_close(id)
    }

    fn current_span(&self) -> span::Current {
        self.inner.current_span()
    }

    /// Downcasts reach the wrapped subscriber and its layers (tracing-opentelemetry's span
    /// extensions find their layer this way), as through any composed subscriber.
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: forwarded unchanged; `inner` upholds the contract for the pointers it returns.
        unsafe { self.inner.downcast_raw(id) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::Registry;
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    use super::*;

    /// What the layers below saw: each enter and exit by span name, and the name of the span each
    /// event was in.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl Seen {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
        fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
            let name = ctx.span(id).unwrap().name();
            self.0.lock().unwrap().push(format!("enter {name}"));
        }
        fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
            let name = ctx.span(id).unwrap().name();
            self.0.lock().unwrap().push(format!("exit {name}"));
        }
        fn on_event(&self, _: &Event<'_>, ctx: Context<'_, S>) {
            let name = ctx.lookup_current().map_or("none", |s| s.name());
            self.0.lock().unwrap().push(format!("event in {name}"));
        }
    }

    fn subscriber() -> (tracing::Dispatch, Seen) {
        let seen = Seen::default();
        let subscriber = SkipReentry::new(Registry::default().with(seen.clone()));
        (tracing::Dispatch::new(subscriber), seen)
    }

    fn current(dispatch: &tracing::Dispatch) -> Option<&'static str> {
        dispatch.current_span().metadata().map(|m| m.name())
    }

    #[test]
    fn entering_the_current_span_again_reaches_no_layer_and_changes_nothing() {
        let (dispatch, seen) = subscriber();
        tracing::dispatcher::with_default(&dispatch, || {
            let request = tracing::info_span!("request");
            let _outer = request.enter();
            for _ in 0..3 {
                let _again = request.enter();
                let _twice = request.enter();
                tracing::info!("row");
                assert_eq!(current(&dispatch), Some("request"));
            }
            assert_eq!(current(&dispatch), Some("request"));
        });
        assert_eq!(
            seen.take(),
            [
                "enter request",
                "event in request",
                "event in request",
                "event in request",
                "exit request"
            ]
        );
    }

    #[test]
    fn spans_nested_and_left_out_of_order_are_passed_on() {
        let (dispatch, seen) = subscriber();
        tracing::dispatcher::with_default(&dispatch, || {
            let a = tracing::info_span!("a");
            let b = tracing::info_span!("b");
            let a1 = a.enter();
            let a2 = a.enter(); // again, on top: skipped
            let b1 = b.enter();
            // Not the innermost: passed on (the registry keeps b current, as without the wrapper).
            let a3 = a.enter();
            assert_eq!(current(&dispatch), Some("b"));
            drop(a3);
            assert_eq!(current(&dispatch), Some("b"));
            drop(a2); // out of order: takes back the skipped one
            assert_eq!(current(&dispatch), Some("b"));
            drop(b1);
            assert_eq!(current(&dispatch), Some("a"));
            tracing::info!("last");
            drop(a1);
            assert_eq!(current(&dispatch), None);
        });
        assert_eq!(
            seen.take(),
            [
                "enter a",
                "enter b",
                "enter a",
                "exit a",
                "exit b",
                "event in a",
                "exit a"
            ]
        );
    }

    #[test]
    fn each_thread_counts_its_own_entries() {
        let (dispatch, seen) = subscriber();
        let span = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("shared"));
        let _here = tracing::dispatcher::with_default(&dispatch, || span.clone().entered());
        std::thread::scope(|s| {
            s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    let _there = span.enter();
                    assert_eq!(current(&dispatch), Some("shared"));
                })
            });
        });
        assert_eq!(seen.take(), ["enter shared", "enter shared", "exit shared"]);
    }

    #[test]
    fn downcasts_reach_the_wrapped_subscriber() {
        let (dispatch, _) = subscriber();
        assert!(dispatch.downcast_ref::<Registry>().is_some());
        assert!(dispatch.is::<SkipReentry<tracing_subscriber::layer::Layered<Seen, Registry>>>());
    }
}
