//! The JSON body extractor: axum's `Json` with every rejection turned into a stable code
//! (415 for a wrong content type, 413 past the body limit, 400 for bad JSON or invalid UTF-8,
//! 422 for a missing or mistyped field).

use crate::error::{ApiError, ErrorCode};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(reject(&rejection)),
        }
    }
}

fn reject(rejection: &JsonRejection) -> ApiError {
    let code = match rejection {
        JsonRejection::MissingJsonContentType(_) => ErrorCode::UnsupportedContentType,
        JsonRejection::JsonSyntaxError(_) => ErrorCode::MalformedJson,
        JsonRejection::JsonDataError(_) => ErrorCode::InvalidRequest,
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
        _ => ErrorCode::MalformedJson,
    };
    match rejection {
        // serde's message names the missing or mistyped field, which helps API clients.
        JsonRejection::JsonDataError(err) => ApiError::with_message(code, err.body_text()),
        _ => ApiError::new(code),
    }
}
