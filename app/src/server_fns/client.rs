//! The server functions' client: how the browser sends a call. Leptos' default (`BrowserClient`)
//! goes through gloo-net, `send_wrapper` and wasm-streams (3.4 KB of the gzipped bundle);
//! [`SiteClient`] is the same `fetch` on `web_sys` directly: the same requests (method,
//! `Accept`, `Content-Type`, body), aborted when the call is dropped before the answer, and a
//! streamed body whose reader is cancelled when the stream is dropped (the summary's Stop).
//!
//! On the server a server function is never called as a client; there [`SiteClient`] is
//! server_fn's own, so only the browser build carries this code.

#[cfg(feature = "hydrate")]
pub use fetch::{FetchClient as SiteClient, FormBody};

/// The client of the site's server functions.
#[cfg(not(feature = "hydrate"))]
pub type SiteClient = leptos::server_fn::client::browser::BrowserClient;

/// A multipart body, as the client sends it.
#[cfg(not(feature = "hydrate"))]
pub type FormBody = leptos::server_fn::request::browser::BrowserFormData;

#[cfg(feature = "hydrate")]
mod fetch {
    use std::future::Future;
    use std::marker::PhantomData;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::{Sink, Stream};
    use http::Method;
    use js_sys::Uint8Array;
    use leptos::server_fn::client::{get_server_url, Client};
    use leptos::server_fn::error::{FromServerFnError, IntoAppError, ServerFnErrorErr};
    use leptos::server_fn::redirect::REDIRECT_HEADER;
    use leptos::server_fn::request::ClientReq;
    use leptos::server_fn::response::ClientRes;
    use leptos::server_fn::Bytes;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{
        AbortController, FormData, Headers, ReadableStreamDefaultReader, ReadableStreamReadResult,
        RequestInit, Response,
    };

    #[cfg(target_feature = "atomics")]
    compile_error!("`Local` assumes the browser build has one thread");

    /// A browser value (or a future over them) marked `Send`, as server_fn's traits ask: sound
    /// because the browser build is single-threaded wasm (no atomics, checked above), so
    /// nothing is ever sent to another thread.
    pub struct Local<T>(T);

    // SAFETY: one thread (see above).
    unsafe impl<T> Send for Local<T> {}
    // SAFETY: one thread (see above).
    unsafe impl<T> Sync for Local<T> {}

    impl<F: Future> Future for Local<F> {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            // SAFETY: structural pinning: the field is never moved out of a pinned `Local`.
            unsafe { self.map_unchecked_mut(|l| &mut l.0) }.poll(cx)
        }
    }

    /// A multipart body (`FormData`), as the client sends it.
    pub struct FormBody(Local<FormData>);

    impl From<FormData> for FormBody {
        fn from(form: FormData) -> Self {
            Self(Local(form))
        }
    }

    /// A JS exception as text (`TypeError: Failed to fetch`), as gloo-net wrote it.
    fn js_text(e: JsValue) -> String {
        match e.dyn_into::<js_sys::Error>() {
            Ok(e) => e.to_string().into(),
            Err(v) => js_sys::JsString::from(v).into(),
        }
    }

    fn request_error<E: FromServerFnError>(e: JsValue) -> E {
        ServerFnErrorErr::Request(js_text(e)).into_app_error()
    }

    /// The client: `window.fetch`.
    pub struct FetchClient;

    /// A request ready to send: the URL, the init (method, headers, body, abort signal) and
    /// the controller that aborts it.
    pub struct FetchRequest(Local<(String, RequestInit, AbortController)>);

    impl FetchRequest {
        /// `method` to `get_server_url() + path`, with `Accept`, an optional `Content-Type` and
        /// an optional body.
        fn new<E: FromServerFnError>(
            path: &str,
            accepts: &str,
            content_type: Option<&str>,
            body: Option<&JsValue>,
            method: &Method,
        ) -> Result<Self, E> {
            let build = || -> Result<Self, JsValue> {
                let headers = Headers::new()?;
                if let Some(ct) = content_type {
                    headers.set("Content-Type", ct)?;
                }
                headers.set("Accept", accepts)?;
                let abort = AbortController::new()?;
                let init = RequestInit::new();
                init.set_method(method.as_str());
                init.set_headers(&headers);
                init.set_signal(Some(&abort.signal()));
                if let Some(body) = body {
                    init.set_body(body);
                }
                Ok(Self(Local((
                    format!("{}{path}", get_server_url()),
                    init,
                    abort,
                ))))
            };
            build().map_err(request_error)
        }
    }

    /// What server_fn's browser client says for the request kinds the site does not send.
    fn unsupported<E: FromServerFnError>(what: &str) -> Result<FetchRequest, E> {
        Err(
            ServerFnErrorErr::Request(format!("{what} requests are not supported"))
                .into_app_error(),
        )
    }

    impl<E: FromServerFnError> ClientReq<E> for FetchRequest {
        type FormData = FormBody;

        fn try_new_req_query(
            path: &str,
            content_type: &str,
            accepts: &str,
            query: &str,
            method: Method,
        ) -> Result<Self, E> {
            Self::new(
                &format!("{path}?{query}"),
                accepts,
                Some(content_type),
                None,
                &method,
            )
        }

        fn try_new_req_text(
            path: &str,
            content_type: &str,
            accepts: &str,
            body: String,
            method: Method,
        ) -> Result<Self, E> {
            let body = JsValue::from_str(&body);
            Self::new(path, accepts, Some(content_type), Some(&body), &method)
        }

        fn try_new_req_bytes(
            path: &str,
            content_type: &str,
            accepts: &str,
            body: Bytes,
            method: Method,
        ) -> Result<Self, E> {
            let body = Uint8Array::from(&body[..]).into();
            Self::new(path, accepts, Some(content_type), Some(&body), &method)
        }

        fn try_new_req_form_data(
            _path: &str,
            _accepts: &str,
            _content_type: &str,
            _body: FormBody,
            _method: Method,
        ) -> Result<Self, E> {
            unsupported("URL-encoded form")
        }

        /// No `Content-Type`: the browser writes it, with the boundary.
        fn try_new_req_multipart(
            path: &str,
            accepts: &str,
            body: FormBody,
            method: Method,
        ) -> Result<Self, E> {
            Self::new(path, accepts, None, Some(&body.0 .0), &method)
        }

        fn try_new_req_streaming(
            _path: &str,
            _accepts: &str,
            _content_type: &str,
            _body: impl Stream<Item = Bytes> + Send + 'static,
            _method: Method,
        ) -> Result<Self, E> {
            unsupported("streaming")
        }
    }

    /// Aborts the request when dropped before the answer came.
    struct AbortOnDrop(Option<AbortController>);

    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            if let Some(c) = self.0.take() {
                c.abort();
            }
        }
    }

    impl<E: FromServerFnError> Client<E> for FetchClient {
        type Request = FetchRequest;
        type Response = FetchResponse;

        fn send(req: FetchRequest) -> impl Future<Output = Result<FetchResponse, E>> + Send {
            Local(async move {
                let (url, init, abort) = req.0 .0;
                let mut abort = AbortOnDrop(Some(abort));
                let window = web_sys::window().ok_or_else(|| request_error(JsValue::NULL))?;
                let res = JsFuture::from(window.fetch_with_str_and_init(&url, &init))
                    .await
                    .map_err(request_error)?;
                // The answer came: from here on, dropping the body (not the request) ends it.
                abort.0 = None;
                Ok(FetchResponse(Local(res.unchecked_into())))
            })
        }

        #[allow(clippy::manual_async_fn)]
        fn open_websocket(
            _path: &str,
        ) -> impl Future<
            Output = Result<
                (
                    impl Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                    impl Sink<Bytes> + Send + 'static,
                ),
                E,
            >,
        > + Send {
            async {
                Err::<(futures::stream::Empty<_>, futures::sink::Drain<Bytes>), E>(
                    ServerFnErrorErr::Request("websockets are not supported".into())
                        .into_app_error(),
                )
            }
        }

        fn spawn(future: impl Future<Output = ()> + Send + 'static) {
            wasm_bindgen_futures::spawn_local(future);
        }
    }

    /// An answer: `fetch`'s `Response`.
    pub struct FetchResponse(Local<Response>);

    impl FetchResponse {
        /// The body, whole.
        async fn bytes<E: FromServerFnError>(self) -> Result<Bytes, E> {
            let buf = match self.0 .0.array_buffer() {
                Ok(promise) => JsFuture::from(promise).await,
                Err(e) => Err(e),
            }
            .map_err(|e| ServerFnErrorErr::Deserialization(js_text(e)).into_app_error())?;
            Ok(Uint8Array::new(&buf).to_vec().into())
        }

        fn header(&self, name: &str) -> Option<String> {
            self.0 .0.headers().get(name).ok().flatten()
        }
    }

    impl<E: FromServerFnError> ClientRes<E> for FetchResponse {
        fn try_into_string(self) -> impl Future<Output = Result<String, E>> + Send {
            Local(async move {
                let bytes = self.bytes::<E>().await?;
                String::from_utf8(bytes.into())
                    .map_err(|e| ServerFnErrorErr::Deserialization(e.to_string()).into_app_error())
            })
        }

        fn try_into_bytes(self) -> impl Future<Output = Result<Bytes, E>> + Send {
            Local(self.bytes())
        }

        fn try_into_stream(
            self,
        ) -> Result<impl Stream<Item = Result<Bytes, Bytes>> + Send + Sync + 'static, E> {
            let reader = self
                .0
                 .0
                .body()
                .ok_or_else(|| JsValue::from_str("the answer has no body"))
                .and_then(|body| ReadableStreamDefaultReader::new(&body))
                .map_err(request_error::<E>)?;
            Ok(Local(Body::<E> {
                reader: Some(reader),
                read: None,
                error: PhantomData,
            }))
        }

        fn status(&self) -> u16 {
            self.0 .0.status()
        }

        fn status_text(&self) -> String {
            self.0 .0.status_text()
        }

        fn location(&self) -> String {
            self.header("Location").unwrap_or_else(|| self.0 .0.url())
        }

        fn has_redirect(&self) -> bool {
            self.header(REDIRECT_HEADER).is_some()
        }
    }

    /// A streamed body, chunk by chunk; dropped before its end, it cancels the reader, which
    /// ends the request (the server sees the disconnect).
    struct Body<E> {
        /// `None` once the body ended or failed.
        reader: Option<ReadableStreamDefaultReader>,
        read: Option<JsFuture>,
        error: PhantomData<fn() -> E>,
    }

    impl<E: FromServerFnError> Stream for Local<Body<E>> {
        type Item = Result<Bytes, Bytes>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let body = &mut self.get_mut().0;
            let Some(reader) = &body.reader else {
                return Poll::Ready(None);
            };
            let read = body.read.get_or_insert_with(|| reader.read().into());
            let result = match Pin::new(read).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            };
            body.read = None;
            match result {
                Ok(chunk) => {
                    let chunk: ReadableStreamReadResult = chunk.unchecked_into();
                    if chunk.get_done().unwrap_or(false) {
                        body.reader = None;
                        return Poll::Ready(None);
                    }
                    let data: Uint8Array = chunk.get_value().unchecked_into();
                    Poll::Ready(Some(Ok(data.to_vec().into())))
                }
                Err(e) => {
                    body.reader = None;
                    web_sys::console::error_1(&e);
                    let e = E::from_server_fn_error(ServerFnErrorErr::Request(format!("{e:?}")));
                    Poll::Ready(Some(Err(e.ser())))
                }
            }
        }
    }

    impl<E> Drop for Body<E> {
        fn drop(&mut self) {
            if let Some(reader) = self.reader.take() {
                let cancelled = JsFuture::from(reader.cancel());
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = cancelled.await;
                });
            }
        }
    }
}
