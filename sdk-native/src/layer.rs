//! The tower layer: one `http` event per request, recorded when the response
//! is ready (or when the request is dropped: `aborted`). It only enqueues.
//!
//! Dimensions: `route` (the matched route template, never the raw path:
//! axum's `MatchedPath` with the `axum` feature, on by default; else a
//! [`RouteTemplate`] extension; else `unmatched`), `method`, `status`, `aborted`, `source=server`. Metrics:
//! `duration_ms`, `response_bytes` when known, `serialize_ms` when the
//! handler answered with [`TimedJson`](crate::TimedJson).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use http_body::Body;
use std::borrow::Cow;
use tower::{Layer, Service};

use crate::serialization::SerializeTiming;
use crate::{Attrs, Client, Measures};

/// A route template for services that do not use axum's router (or build
/// without the `axum` feature): insert it into the request's extensions
/// before the layer sees the request, and the `http` event's `route` is it.
/// axum's `MatchedPath`, when there is one, comes first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTemplate(pub String);

/// Records one `http` event per request through `client`.
#[derive(Debug, Clone)]
pub struct UsageLensLayer {
    client: Client,
}

impl UsageLensLayer {
    /// A layer recording into `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl<S> Layer<S> for UsageLensLayer {
    type Service = UsageLensService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        UsageLensService {
            inner,
            client: self.client.clone(),
        }
    }
}

/// The service of [`UsageLensLayer`].
#[derive(Debug, Clone)]
pub struct UsageLensService<S> {
    inner: S,
    client: Client,
}

fn route_of<B>(req: &Request<B>) -> String {
    #[cfg(feature = "axum")]
    if let Some(p) = req.extensions().get::<axum::extract::MatchedPath>() {
        return p.as_str().to_owned();
    }
    req.extensions()
        .get::<RouteTemplate>()
        .map_or_else(|| "unmatched".to_owned(), |r| r.0.clone())
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for UsageLensService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let pending = Pending {
            client: self.client.clone(),
            route: route_of(&req),
            method: method_name(req.method()),
            start: Instant::now(),
        };
        ResponseFuture {
            inner: self.inner.call(req),
            pending: Some(pending),
        }
    }
}

#[derive(Debug)]
struct Pending {
    client: Client,
    route: String,
    method: Cow<'static, str>,
    start: Instant,
}

/// The standard methods as static strings: no allocation per request.
fn method_name(m: &http::Method) -> Cow<'static, str> {
    use http::Method;
    Cow::Borrowed(match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => return Cow::Owned(m.as_str().to_owned()),
    })
}

impl Pending {
    fn record(self, status: Option<u16>, bytes: Option<u64>, serialize: Option<SerializeTiming>) {
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let mut attrs = Attrs::new()
            .with("route", self.route)
            .with("method", self.method)
            .with("source", "server");
        match status {
            Some(s) => attrs.push("status", s),
            None => attrs.push("aborted", true),
        }
        let mut measures = Measures::new().with("duration_ms", duration_ms);
        if let Some(b) = bytes {
            measures.push("response_bytes", b as f64);
        }
        if let Some(t) = serialize {
            measures.push("serialize_ms", t.serialize_ms);
            measures.push("serialized_bytes", t.bytes as f64);
        }
        self.client.record("http", attrs, measures);
    }
}

pin_project_lite::pin_project! {
    /// The future of [`UsageLensService`]; if dropped before the response is
    /// ready, the request is recorded as aborted.
    #[must_use = "futures do nothing unless polled; dropped, the request is recorded as aborted"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(p) = this.project().pending.take() {
                p.record(None, None, None);
            }
        }
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: Body,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        if let Some(p) = this.pending.take() {
            match &out {
                Ok(resp) => {
                    let bytes = resp.body().size_hint().exact();
                    let serialize = resp.extensions().get::<SerializeTiming>().copied();
                    p.record(Some(resp.status().as_u16()), bytes, serialize);
                }
                // The inner service failed: no response, no status; axum maps it to 500.
                Err(_) => p.record(Some(500), None, None),
            }
        }
        Poll::Ready(out)
    }
}
