//! Reading and writing checkpoint objects by URL.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("'{location}' is not a checkpoint location: {why}")]
    BadLocation { location: String, why: String },
    #[error("{location} does not exist")]
    NotFound { location: String },
    #[error("{location}: {why}")]
    Io { location: String, why: String },
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
}

/// Turns a location as a user writes it (a URL, or a directory path that
/// `base` resolves when relative) into the URL every component uses.
pub fn location_of(text: &str, base: &Path) -> Result<String, StorageError> {
    let text = text.trim();
    let bad = |why: String| StorageError::BadLocation {
        location: text.to_string(),
        why,
    };
    if text.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if text.contains("://") {
        let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
        return match url.scheme() {
            "file" | "memory" | "s3" => Ok(text.trim_end_matches('/').to_string()),
            other => Err(bad(format!(
                "the scheme '{other}' is not one of file://, s3://, memory://"
            ))),
        };
    }
    let path = Path::new(text);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let url = Url::from_directory_path(&path)
        .map_err(|()| bad("it is not a directory path that can be a file:// URL".into()))?;
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Object stores by scheme and authority, opened once and shared.
#[derive(Default)]
pub struct Storage {
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl Storage {
    pub fn new() -> Self {
        Storage::default()
    }

    fn resolve(&self, location: &str) -> Result<(Arc<dyn ObjectStore>, ObjectPath), StorageError> {
        let bad = |why: String| StorageError::BadLocation {
            location: location.to_string(),
            why,
        };
        let url = Url::parse(location).map_err(|e| bad(e.to_string()))?;
        let key = format!("{}://{}", url.scheme(), url.authority());
        let path = ObjectPath::from_url_path(url.path()).map_err(|e| bad(e.to_string()))?;
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = stores.get(&key) {
            return Ok((store.clone(), path));
        }
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => Arc::new(object_store::local::LocalFileSystem::new()),
            "memory" => Arc::new(object_store::memory::InMemory::new()),
            #[cfg(feature = "s3")]
            "s3" => Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(location)
                    .build()
                    .map_err(|e| bad(e.to_string()))?,
            ),
            #[cfg(not(feature = "s3"))]
            "s3" => {
                return Err(bad(
                    "this weir was built without S3 support (the `s3` feature)".into(),
                ))
            }
            other => return Err(bad(format!("unknown scheme '{other}'"))),
        };
        stores.insert(key, store.clone());
        Ok((store, path))
    }

    fn io(location: &str, error: object_store::Error) -> StorageError {
        match error {
            object_store::Error::NotFound { .. } => StorageError::NotFound {
                location: location.to_string(),
            },
            other => StorageError::Io {
                location: location.to_string(),
                why: other.to_string(),
            },
        }
    }

    /// Writes `bytes` at `location`, whole or not at all.
    pub async fn put(&self, location: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let (store, path) = self.resolve(location)?;
        store
            .put(&path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| Self::io(location, e))
    }

    pub async fn get(&self, location: &str) -> Result<Vec<u8>, StorageError> {
        let (store, path) = self.resolve(location)?;
        let result = store.get(&path).await.map_err(|e| Self::io(location, e))?;
        let bytes = result.bytes().await.map_err(|e| Self::io(location, e))?;
        Ok(bytes.to_vec())
    }

    /// The locations of every object under the directory `location` (none
    /// when it does not exist), in no particular order.
    pub async fn list(&self, location: &str) -> Result<Vec<String>, StorageError> {
        let (store, path) = self.resolve(location)?;
        let url = Url::parse(location).map_err(|e| StorageError::BadLocation {
            location: location.to_string(),
            why: e.to_string(),
        })?;
        let base = format!("{}://{}", url.scheme(), url.authority());
        let listed: Result<Vec<ObjectPath>, _> = store
            .list(Some(&path))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await;
        match listed {
            Ok(objects) => Ok(objects
                .into_iter()
                .map(|object| format!("{base}/{}", object.as_ref()))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(Self::io(location, e)),
        }
    }

    /// Deletes the object at `location`; one that does not exist is gone
    /// already.
    pub async fn delete(&self, location: &str) -> Result<(), StorageError> {
        let (store, path) = self.resolve(location)?;
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::io(location, e)),
        }
    }

    /// Deletes everything under the directory `location`.
    pub async fn delete_all(&self, location: &str) -> Result<(), StorageError> {
        let (store, path) = self.resolve(location)?;
        let objects: Vec<ObjectPath> = store
            .list(Some(&path))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| Self::io(location, e))?;
        for object in objects {
            match store.delete(&object).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(Self::io(location, e)),
            }
        }
        // A local store leaves the emptied directories behind.
        if let Ok(url) = Url::parse(location) {
            if url.scheme() == "file" {
                if let Ok(dir) = url.to_file_path() {
                    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join;

    #[test]
    fn paths_become_file_urls_and_bad_schemes_are_named() {
        let base = Path::new("/srv/jobs");
        assert_eq!(location_of("ckpt", base).unwrap(), "file:///srv/jobs/ckpt");
        assert_eq!(location_of("/data/c/", base).unwrap(), "file:///data/c");
        assert_eq!(
            location_of("s3://bucket/weir/", base).unwrap(),
            "s3://bucket/weir"
        );
        let err = location_of("ftp://host/x", base).unwrap_err().to_string();
        assert!(err.contains("ftp") && err.contains("file://"), "{err}");
    }

    #[tokio::test]
    async fn objects_round_trip_and_directories_delete() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new();
        let root = location_of(dir.path().to_str().unwrap(), Path::new("/")).unwrap();
        let chk = crate::checkpoint_location(&root, "job", 1);
        storage
            .put(&crate::join(&chk, "task-0-0"), b"state".to_vec())
            .await
            .unwrap();
        assert_eq!(
            storage.get(&crate::join(&chk, "task-0-0")).await.unwrap(),
            b"state"
        );
        assert!(dir.path().join("job/chk-1/task-0-0").is_file());
        let missing = storage.get(&crate::join(&chk, "nope")).await.unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        assert!(missing.to_string().contains("chk-1/nope"), "{missing}");
        let listed = storage.list(&join(&root, "job")).await.unwrap();
        assert_eq!(listed, vec![crate::join(&chk, "task-0-0")]);
        assert!(storage
            .list(&join(&root, "nothing-here"))
            .await
            .unwrap()
            .is_empty());
        storage.delete_all(&chk).await.unwrap();
        assert!(!dir.path().join("job/chk-1").exists());

        storage
            .put("memory://test/a/b", b"x".to_vec())
            .await
            .unwrap();
        assert_eq!(storage.get("memory://test/a/b").await.unwrap(), b"x");
    }
}
