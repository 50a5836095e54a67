//! Why a data channel between two tasks stopped: what a producer's writer
//! or a consumer's reader met. The job fails through its task states; this
//! says why in the TaskManager's log and in the status the other side sees.

use arrow_schema::ArrowError;

use crate::codec::FrameError;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the producer's stream broke: {0}")]
    ProducerBroke(#[source] tonic::Status),
    #[error("the producer's stream ended before the producer finished")]
    ProducerEndedEarly,
    #[error("bad channel metadata: {0}")]
    Metadata(#[source] prost::DecodeError),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the channel closed")]
    Closed,
    /// The consumer's answer to opening the channel, or to a credit.
    #[error("the consumer refused the channel: {0}")]
    Refused(String),
    #[error("{0}")]
    CreditsBroke(String),
    #[error("the credits closed")]
    CreditsClosed,
    #[error("the consumer is gone")]
    ConsumerGone,
    #[error("a batch came before the schema")]
    BatchBeforeSchema,
    #[error("cannot coalesce batches: {0}")]
    Coalesce(#[source] ArrowError),
    #[error("a record of {size} is larger than a data frame may be ({limit})")]
    RecordTooLarge { size: String, limit: String },
}
