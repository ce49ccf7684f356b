//! Recording bytes, kept out of the database in an object store (local files or S3-compatible).
//!
//! Every object is written once under a fresh key and never overwritten, so a retried write can
//! never clobber data that an earlier write already committed. This module knows nothing of tenants
//! or permissions: callers pass keys built by [`part_key`].

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::error::{Result, StoreError};

/// Where blobs live.
#[derive(Debug, Clone)]
pub enum BlobConfig {
    /// A directory on the local file system (created if missing).
    Local {
        /// The root directory.
        root: std::path::PathBuf,
    },
    /// An S3-compatible bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Region (any string for most S3-compatible servers).
        region: String,
        /// Endpoint URL for S3-compatible servers; `None` for AWS.
        endpoint: Option<String>,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Allow plain HTTP (local test servers).
        allow_http: bool,
    },
}

/// A handle on the blob store.
#[derive(Debug, Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

impl Blobs {
    /// Opens the configured blob store.
    pub fn open(config: &BlobConfig) -> Result<Blobs> {
        let store: Arc<dyn ObjectStore> = match config {
            BlobConfig::Local { root } => {
                std::fs::create_dir_all(root).map_err(|e| StoreError::BlobSetup(e.to_string()))?;
                Arc::new(LocalFileSystem::new_with_prefix(root)?)
            }
            BlobConfig::S3 {
                bucket,
                region,
                endpoint,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_allow_http(*allow_http);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Blobs { store })
    }

    /// Writes one object.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(data))
            .await?;
        Ok(())
    }

    /// Reads one object whole.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        Ok(self
            .store
            .get(&ObjectPath::from(key))
            .await?
            .bytes()
            .await?)
    }

    /// Deletes one object (missing objects are not an error).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The key of a fresh part object of a recording's signal stream.
pub fn part_key(tenant_id: &str, recording_id: &str, stream: &str, start: u64) -> String {
    format!(
        "tenants/{tenant_id}/recordings/{recording_id}/{stream}/{start:020}-{}",
        uuid::Uuid::new_v4().simple()
    )
}
