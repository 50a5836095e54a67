//! Checkpoint storage on an S3-compatible store (moto's server on
//! loopback), through the same URLs a job spec gives.
#![cfg(feature = "s3")]

use weir_checkpoint::{checkpoint_location, join, Storage};
use weir_testing::S3Server;

#[tokio::test]
async fn snapshots_round_trip_through_s3_and_checkpoints_delete() {
    let s3 = S3Server::start("weir-checkpoints");
    for (key, value) in s3.env() {
        // This test is the process's only one: nothing reads the
        // environment concurrently.
        std::env::set_var(key, value);
    }
    let storage = Storage::new();
    let root = format!("s3://{}/jobs", s3.bucket);
    let chk = checkpoint_location(&root, "job-1", 7);
    let file = join(&chk, "task-0-0");
    storage.put(&file, b"snapshot".to_vec()).await.unwrap();
    storage
        .put(&join(&chk, "_metadata"), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(storage.get(&file).await.unwrap(), b"snapshot");
    let missing = storage.get(&join(&chk, "task-9-9")).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    storage.delete_all(&chk).await.unwrap();
    assert!(storage.get(&file).await.unwrap_err().is_not_found());
    assert!(storage
        .get(&join(&chk, "_metadata"))
        .await
        .unwrap_err()
        .is_not_found());
}
