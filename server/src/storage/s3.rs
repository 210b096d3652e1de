//! The S3 blob store, on the `s3` crate (s3-rs 0.1.30, pinned: later
//! releases need a newer rustc). Path-style addressing for self-hosted stores.
//! Small requests are retried by the client; a part upload streams its body,
//! which the client cannot replay, so parts are retried here by streaming the
//! [`PartSource`] again. A failed part never aborts the multipart upload.
//! Every key is put under `s3_key_prefix`, so installations can share a bucket.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt, future::BoxFuture};
use s3::{AddressingStyle, Auth, Client, Credentials};

use super::{
    BlobStore, ByteRange, ByteStream, GetObject, MultipartInfo, ObjectMeta, PartInfo, PartSource,
    StorageError, validate_key,
};
use crate::config::Config;

pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
}

/// A `Sync` wrapper for a body stream (the client wants `Send + Sync`
/// streams; ours are only `Send`). `&mut` access only, so no lock is taken.
struct SyncStream(std::sync::Mutex<ByteStream>);

impl Stream for SyncStream {
    type Item = std::io::Result<Bytes>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().0.get_mut() {
            Ok(inner) => inner.as_mut().poll_next(cx),
            Err(poisoned) => poisoned.into_inner().as_mut().poll_next(cx),
        }
    }
}

/// What went wrong with a body we were sending, as seen by [`LengthCheck`].
/// The client reports any body error as a transport failure; this keeps the
/// real reason so a short body is not mistaken for an unreachable store.
#[derive(Clone, Default)]
struct BodyFault(Arc<std::sync::Mutex<Option<StorageError>>>);

impl BodyFault {
    fn set(&self, fault: StorageError) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(fault);
        }
    }

    /// The body's own fault if it had one, else the client's error.
    fn or(&self, e: s3::Error) -> StorageError {
        match self.0.lock().ok().and_then(|mut slot| slot.take()) {
            Some(fault) => fault,
            None => error(e),
        }
    }
}

/// Fails a body that yields more or fewer than `len` bytes, so a short or
/// long body never becomes a stored object.
fn checked(body: ByteStream, len: u64) -> (SyncStream, BodyFault) {
    let fault = BodyFault::default();
    let stream = SyncStream(std::sync::Mutex::new(Box::pin(LengthCheck {
        inner: body,
        len,
        seen: 0,
        fault: fault.clone(),
    })));
    (stream, fault)
}

/// Errors when a stream yields more than `len` bytes, or ends before.
struct LengthCheck {
    inner: ByteStream,
    len: u64,
    seen: u64,
    fault: BodyFault,
}

impl Stream for LengthCheck {
    type Item = std::io::Result<Bytes>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.seen += chunk.len() as u64;
                if this.seen > this.len {
                    this.fault
                        .set(StorageError::LongBody { expected: this.len });
                    return Poll::Ready(Some(Err(std::io::Error::other(format!(
                        "body longer than {} bytes",
                        this.len
                    )))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.fault.set(StorageError::Body(std::io::Error::new(
                    e.kind(),
                    e.to_string(),
                )));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) if this.seen < this.len => {
                let (seen, len) = (this.seen, this.len);
                this.seen = this.len; // report once
                this.fault.set(StorageError::ShortBody {
                    expected: len,
                    got: seen,
                });
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("body ended after {seen} of {len} bytes"),
                ))))
            }
            other => other,
        }
    }
}

fn error(e: s3::Error) -> StorageError {
    let status = e.status().map(|s| s.as_u16());
    match (status, e.code()) {
        (_, Some("NoSuchUpload")) => StorageError::NoSuchUpload(e.to_string()),
        (Some(s), _) if (400..500).contains(&s) => StorageError::Refused(e.to_string()),
        _ => StorageError::Unavailable(e.to_string()),
    }
}

fn is_not_found(e: &s3::Error) -> bool {
    e.status().map(|s| s.as_u16()) == Some(404)
}

impl S3Store {
    pub async fn from_config(config: &Config) -> Result<Self, StorageError> {
        let missing = |name: &str| StorageError::Refused(format!("{name} is not set"));
        let endpoint = config
            .s3_endpoint
            .clone()
            .ok_or_else(|| missing("s3_endpoint"))?;
        let bucket = config
            .s3_bucket
            .clone()
            .ok_or_else(|| missing("s3_bucket"))?;
        let key_id = config
            .s3_access_key_id
            .clone()
            .ok_or_else(|| missing("s3_access_key_id"))?;
        let secret = config
            .s3_secret_access_key
            .as_ref()
            .ok_or_else(|| missing("s3_secret_access_key"))?;
        let credentials = Credentials::new(key_id, secret.expose()).map_err(error)?;
        let client = Client::builder(&endpoint)
            .map_err(error)?
            .region(config.s3_region.clone())
            .auth(Auth::Static(credentials))
            .addressing_style(if config.s3_path_style {
                AddressingStyle::Path
            } else {
                AddressingStyle::VirtualHosted
            })
            .timeout(Duration::from_secs(300))
            .max_attempts(3)
            .build()
            .map_err(error)?;
        let store = Self {
            client,
            bucket,
            prefix: config.s3_key_prefix.clone(),
            endpoint,
        };
        store
            .ensure_abort_rule(config.s3_abort_incomplete_days)
            .await;
        Ok(store)
    }

    /// Creates the bucket if it does not exist (moto in tests; operators
    /// normally create it themselves).
    pub async fn create_bucket_if_missing(&self) -> Result<(), StorageError> {
        match self.client.buckets().head(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => {
                self.client
                    .buckets()
                    .create(&self.bucket)
                    .send()
                    .await
                    .map_err(error)?;
                Ok(())
            }
            Err(e) => Err(error(e)),
        }
    }

    /// Sets a lifecycle rule that removes multipart uploads left incomplete,
    /// for what a crash between recording and creating one leaves. Best
    /// effort: a store or a key without the right to do so is logged.
    async fn ensure_abort_rule(&self, days: u32) {
        if days == 0 {
            return;
        }
        let xml = format!(
            "<LifecycleConfiguration><Rule><ID>mystery-buyer-abort-incomplete-multipart</ID>\
             <Filter><Prefix>{}</Prefix></Filter><Status>Enabled</Status>\
             <AbortIncompleteMultipartUpload><DaysAfterInitiation>{days}</DaysAfterInitiation>\
             </AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>",
            self.prefix
        );
        if let Err(e) = self
            .client
            .buckets()
            .put_config_raw(&self.bucket, "lifecycle")
            .body_xml(xml)
            .send()
            .await
        {
            tracing::warn!(error = %e, "could not set the bucket's abort-incomplete-multipart rule");
        }
    }

    fn full_key(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }

    fn strip<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.prefix.as_str())
    }

    async fn put_part_once(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: &dyn PartSource,
    ) -> Result<PartInfo, StorageError> {
        let (stream, fault) = checked(body.stream(), body.len());
        let out = self
            .client
            .objects()
            .upload_part(&self.bucket, key, upload_id, number)
            .body_stream_sized(stream, body.len())
            .send()
            .await
            .map_err(|e| fault.or(e))?;
        Ok(PartInfo {
            number,
            etag: out.etag.unwrap_or_default(),
            size: body.len(),
        })
    }
}

impl BlobStore for S3Store {
    fn describe(&self) -> String {
        format!(
            "s3 {} bucket {} prefix {:?}",
            self.endpoint, self.bucket, self.prefix
        )
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(async move {
            self.client
                .buckets()
                .head(&self.bucket)
                .send()
                .await
                .map_err(error)?;
            Ok(())
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: ByteStream,
        len: u64,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let key = self.full_key(key)?;
            let (stream, fault) = checked(body, len);
            self.client
                .objects()
                .put(&self.bucket, key)
                .body_stream_sized(stream, len)
                .send()
                .await
                .map_err(|e| fault.or(e))?;
            Ok(())
        })
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<Option<GetObject>, StorageError>> {
        Box::pin(async move {
            let full = self.full_key(key)?;
            // The total size is needed to resolve open ranges and to answer
            // Content-Range; one HEAD is cheaper than parsing Content-Range.
            let Some(meta) = self.head(key).await? else {
                return Ok(None);
            };
            let size = meta.size;
            let mut request = self.client.objects().get(&self.bucket, full);
            let served = match range {
                None if size == 0 => (0, 0),
                None => (0, size - 1),
                Some(r) => {
                    let (start, end) = r.resolve(size).ok_or_else(|| {
                        StorageError::Refused(format!("range outside the {size}-byte object"))
                    })?;
                    request = request.range_bytes(start, end);
                    (start, end)
                }
            };
            let out = match request.send().await {
                Ok(out) => out,
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(error(e)),
            };
            let body = out.body.map_err(|e| std::io::Error::other(e.to_string()));
            Ok(Some(GetObject {
                size,
                range: served,
                body: Box::pin(body),
            }))
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>, StorageError>> {
        Box::pin(async move {
            let full = self.full_key(key)?;
            match self.client.objects().head(&self.bucket, full).send().await {
                Ok(out) => Ok(Some(ObjectMeta {
                    key: key.to_string(),
                    size: out.content_length.unwrap_or_default(),
                })),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(error(e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let full = self.full_key(key)?;
            match self
                .client
                .objects()
                .delete(&self.bucket, full)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(error(e)),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>, StorageError>> {
        Box::pin(async move {
            let mut pager = self
                .client
                .objects()
                .list_v2(&self.bucket)
                .prefix(format!("{}{prefix}", self.prefix))
                .pager();
            let mut found = Vec::new();
            while let Some(page) = pager.next_page().await.map_err(error)? {
                for object in page.contents {
                    if let Some(key) = self.strip(&object.key) {
                        found.push(ObjectMeta {
                            key: key.to_string(),
                            size: object.size,
                        });
                    }
                }
            }
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let (source, target) = (self.full_key(from)?, self.full_key(to)?);
            self.client
                .objects()
                .copy(&self.bucket, &source, &self.bucket, &target)
                .send()
                .await
                .map_err(error)?;
            self.delete(from).await
        })
    }

    fn create_multipart<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<String, StorageError>> {
        Box::pin(async move {
            let full = self.full_key(key)?;
            let out = self
                .client
                .objects()
                .create_multipart_upload(&self.bucket, full)
                .send()
                .await
                .map_err(error)?;
            Ok(out.upload_id)
        })
    }

    fn upload_part<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
        number: u32,
        body: Arc<dyn PartSource>,
    ) -> BoxFuture<'a, Result<PartInfo, StorageError>> {
        Box::pin(async move {
            let full = self.full_key(key)?;
            super::retry_part(number, super::part_attempts(&*body), || async {
                self.put_part_once(&full, upload_id, number, &*body).await
            })
            .await
        })
    }

    fn list_parts<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartInfo>, StorageError>> {
        Box::pin(async move {
            let full = self.full_key(key)?;
            let mut parts = Vec::new();
            let mut marker = None;
            loop {
                let mut request = self
                    .client
                    .objects()
                    .list_parts(&self.bucket, &full, upload_id);
                if let Some(m) = marker {
                    request = request.part_number_marker(m);
                }
                let page = request.send().await.map_err(error)?;
                parts.extend(page.parts.into_iter().map(|p| PartInfo {
                    number: p.part_number,
                    etag: p.etag.unwrap_or_default(),
                    size: p.size,
                }));
                match (page.is_truncated, page.next_part_number_marker) {
                    (true, Some(next)) => marker = Some(next),
                    _ => break,
                }
            }
            parts.sort_by_key(|p| p.number);
            Ok(parts)
        })
    }

    fn complete_multipart<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
        parts: &'a [PartInfo],
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let full = self.full_key(key)?;
            self.client
                .objects()
                .complete_multipart_upload(&self.bucket, full, upload_id)
                .parts(parts.iter().map(|p| s3::types::CompletedPart {
                    part_number: p.number,
                    etag: p.etag.clone(),
                }))
                .send()
                .await
                .map_err(error)?;
            Ok(())
        })
    }

    fn abort_multipart<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let full = self.full_key(key)?;
            match self
                .client
                .objects()
                .abort_multipart_upload(&self.bucket, full, upload_id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_not_found(&e) || e.code() == Some("NoSuchUpload") => Ok(()),
                Err(e) => Err(error(e)),
            }
        })
    }

    fn list_multipart_uploads<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<MultipartInfo>, StorageError>> {
        Box::pin(async move {
            // The crate has no ListMultipartUploads; `GET /bucket?uploads`
            // through its raw sub-resource call is the same request. It
            // returns the first 1,000 uploads; the cleanup job aborts what it
            // finds, so later runs see the rest.
            let xml = self
                .client
                .buckets()
                .get_config_raw(&self.bucket, "uploads")
                .send()
                .await
                .map_err(error)?;
            let wanted = format!("{}{prefix}", self.prefix);
            let mut found: Vec<MultipartInfo> = parse_uploads(&xml)
                .into_iter()
                .filter(|(key, _)| key.starts_with(&wanted))
                .filter_map(|(key, upload_id)| {
                    Some(MultipartInfo {
                        key: self.strip(&key)?.to_string(),
                        upload_id,
                    })
                })
                .collect();
            found.sort_by(|a, b| a.key.cmp(&b.key).then(a.upload_id.cmp(&b.upload_id)));
            Ok(found)
        })
    }
}

/// `(key, upload id)` of every `<Upload>` in a ListMultipartUploads answer.
fn parse_uploads(xml: &str) -> Vec<(String, String)> {
    fn tag<'a>(within: &'a str, name: &str) -> Option<&'a str> {
        let open = format!("<{name}>");
        let start = within.find(&open)? + open.len();
        let end = within[start..].find(&format!("</{name}>"))? + start;
        Some(&within[start..end])
    }
    xml.split("<Upload>")
        .skip(1)
        .filter_map(|chunk| {
            let chunk = chunk.split("</Upload>").next()?;
            Some((
                unescape(tag(chunk, "Key")?),
                unescape(tag(chunk, "UploadId")?),
            ))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_list_multipart_uploads_answer() {
        let xml = r#"<?xml version="1.0"?><ListMultipartUploadsResult><Bucket>b</Bucket>
            <Upload><Key>p/a&amp;b</Key><UploadId>u1</UploadId><Initiated>x</Initiated></Upload>
            <Upload><Key>p/c</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>"#;
        assert_eq!(
            parse_uploads(xml),
            vec![
                ("p/a&b".to_string(), "u1".to_string()),
                ("p/c".to_string(), "u2".to_string())
            ]
        );
    }
}
