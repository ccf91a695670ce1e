//! The JSON body extractor: axum's `Json` with every rejection turned into a stable code
//! (415 for a wrong content type, 413 past the body limit, 400 for bad JSON or invalid UTF-8,
//! 422 for a missing or mistyped field, or a body that is not a JSON object).

use crate::error::{ApiError, ErrorCode};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::marker::PhantomData;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<ObjectOnly<T>>::from_request(req, state).await {
            Ok(axum::Json(ObjectOnly(value))) => Ok(Self(value)),
            Err(rejection) => Err(reject(&rejection)),
        }
    }
}

/// A body read as a JSON object only. serde lets a struct be written as an array of its fields
/// in order (`[null]` for `{"code": null}`), which no client means and the API documents as
/// objects: an array is 422 `INVALID_REQUEST` like any other wrong type.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(Object(PhantomData)).map(Self)
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
