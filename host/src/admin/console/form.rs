//! The console's forms as the browser posts them: URL-encoded, or multipart when they carry a
//! file (a component to upload).

use bytes::Bytes;
use bytesize::ByteSize;
use http::{Request, header};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::{Body as _, Incoming};
use std::collections::HashMap;

/// The largest form without a file.
const MAX_FIELDS: u64 = 64 << 10;

pub struct Form {
    fields: HashMap<String, String>,
    /// The file of a multipart form, when one was chosen.
    pub file: Option<Upload>,
}

pub struct Upload {
    pub name: String,
    pub bytes: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("the form is larger than {}, the most it may be (the host's --max-upload and its fields)", ByteSize(*.0))]
    TooLarge(u64),
    #[error("the form could not be read: {0}")]
    Malformed(String),
}

impl Form {
    /// The field `name`, trimmed; empty when it is missing.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", |value| value.trim())
    }
}

/// Reads the form in `request`'s body, a file of at most `max_file` bytes included.
pub async fn read(request: Request<Incoming>, max_file: u64) -> Result<Form, FormError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        let body = Limited::new(request.into_body(), MAX_FIELDS as usize).collect().await;
        let body = body.map_err(|_| FormError::TooLarge(MAX_FIELDS))?.to_bytes();
        let fields = form_urlencoded::parse(&body).into_owned().collect();
        return Ok(Form { fields, file: None });
    };
    let limit = max_file + MAX_FIELDS;
    // A declared length over the limit is refused before a byte is read.
    if request.body().size_hint().exact().is_some_and(|length| length > limit) {
        return Err(FormError::TooLarge(limit));
    }
    let constraints = multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(limit));
    let stream = request.into_body().into_data_stream();
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut form = Form { fields: HashMap::new(), file: None };
    let failed = |e: multer::Error| match e {
        multer::Error::StreamSizeExceeded { .. } => FormError::TooLarge(limit),
        e => FormError::Malformed(e.to_string()),
    };
    while let Some(field) = multipart.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let bytes: Bytes = field.bytes().await.map_err(failed)?;
                // A file input left empty still sends a part, without name or bytes.
                if !(file_name.is_empty() && bytes.is_empty()) {
                    form.file = Some(Upload { name: file_name, bytes });
                }
            }
            None => {
                let text = field.text().await.map_err(failed)?;
                form.fields.insert(name, text);
            }
        }
    }
    Ok(form)
}
