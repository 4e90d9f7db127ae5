//! The `Upload` codec: an image form sent as `multipart/form-data` with the REST query on the
//! path, and handed to the server *unread*. Leptos' own `MultipartFormData` parses the body with
//! `multer` inside the server function, past the server's ingress; this one lets the server
//! read it exactly as `/api/v1/<task>/{model}` does (its limits, memory budget, early refusal
//! of a full queue before the upload is read, slow-client guard), in one place.

use leptos::server_fn::codec::Encoding;
use leptos::server_fn::request::{BrowserMockReq, ClientReq};
use leptos::server_fn::ContentType;

use super::client::FormBody;
use super::error::SiteError;

/// The codec: a multipart POST.
pub struct Upload;

impl ContentType for Upload {
    const CONTENT_TYPE: &'static str = "multipart/form-data";
}

impl Encoding for Upload {
    const METHOD: http::Method = http::Method::POST;
}

/// An image request: in the browser, the form and its query; on the server, the request as it
/// arrived.
pub enum ImageForm {
    Browser {
        form: FormBody,
        /// `model=…&threshold=…`, as the REST route's query.
        query: String,
    },
    #[cfg(feature = "ssr")]
    Server(super::backend::ServerRequest),
}

impl std::fmt::Debug for ImageForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageForm::Browser { query, .. } => write!(f, "ImageForm::Browser({query})"),
            #[cfg(feature = "ssr")]
            ImageForm::Server(r) => write!(f, "ImageForm::Server({})", r.uri()),
        }
    }
}

impl ImageForm {
    /// The form to send, with `query` on the function's path.
    #[cfg(feature = "hydrate")]
    pub fn browser(form: web_sys::FormData, query: String) -> Self {
        ImageForm::Browser {
            form: form.into(),
            query,
        }
    }

    /// The request the server function was called with, for the server's ingress.
    #[cfg(feature = "ssr")]
    pub fn into_request(self) -> Result<super::backend::ServerRequest, SiteError> {
        match self {
            ImageForm::Server(req) => Ok(req),
            ImageForm::Browser { .. } => Err(SiteError::internal(
                "an image form must come in an HTTP request".into(),
            )),
        }
    }
}

/// The server requests an [`ImageForm`] can be made from: axum's (the server), and the mock
/// one the browser build compiles against (never called: server functions run on the server).
pub trait KeepUnread: Sized {
    fn keep(self) -> Result<ImageForm, SiteError>;
}

#[cfg(feature = "ssr")]
impl KeepUnread for super::backend::ServerRequest {
    fn keep(self) -> Result<ImageForm, SiteError> {
        Ok(ImageForm::Server(self))
    }
}

impl KeepUnread for BrowserMockReq {
    fn keep(self) -> Result<ImageForm, SiteError> {
        Err(SiteError::internal(
            "server functions run on the server".into(),
        ))
    }
}

/// The codec for each server function taking an [`ImageForm`] (one impl each: a blanket impl
/// over the generated argument structs would break the orphan rule). Invoked beside the
/// functions (`server_fns/mod.rs`), so this file needs nothing from there.
macro_rules! upload_codec {
    ($($args:ty),*) => {$(
        impl<R> leptos::server_fn::codec::IntoReq<$crate::server_fns::Upload, R, $crate::server_fns::SiteError> for $args
        where
            R: leptos::server_fn::request::ClientReq<
                $crate::server_fns::SiteError,
                FormData = $crate::server_fns::client::FormBody,
            >,
        {
            fn into_req(self, path: &str, accepts: &str) -> Result<R, $crate::server_fns::SiteError> {
                $crate::server_fns::upload::browser_request(self.into(), path, accepts)
            }
        }

        impl<R> leptos::server_fn::codec::FromReq<$crate::server_fns::Upload, R, $crate::server_fns::SiteError> for $args
        where
            R: $crate::server_fns::upload::KeepUnread + Send + 'static,
        {
            async fn from_req(req: R) -> Result<Self, $crate::server_fns::SiteError> {
                $crate::server_fns::upload::KeepUnread::keep(req).map(Self::from)
            }
        }
    )*};
}

pub(crate) use upload_codec;

/// The browser's request for `form`: a multipart POST to `path` with the form's query.
pub fn browser_request<R>(form: ImageForm, path: &str, accepts: &str) -> Result<R, SiteError>
where
    R: ClientReq<SiteError, FormData = FormBody>,
{
    match form {
        ImageForm::Browser { form, query } => R::try_new_req_multipart(
            &format!("{path}?{query}"),
            accepts,
            form,
            http::Method::POST,
        ),
        #[cfg(feature = "ssr")]
        ImageForm::Server(_) => Err(SiteError::internal(
            "a received request cannot be sent again".into(),
        )),
    }
}
