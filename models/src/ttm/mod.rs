//! Time to merge: features known at prediction time, a calibrated quantile model with a
//! merge-probability classifier, exact Shapley explanations, adaptive intervals, the running
//! median it must beat with a fallback to it, and a walk-forward evaluation that runs all of it
//! as the bot does.

pub mod aci;
pub mod bucket_classifier;
pub mod buckets;
pub mod eval;
pub mod explain;
pub mod fallback;
pub mod features;
pub mod global;
pub mod gousios;
pub mod history;
pub mod model;
pub mod online;
pub mod record;
pub mod running_median;
pub mod walk;

pub use features::{TtmFeatures, from_log, to_log};
pub use model::{Explanation, Prediction, Scope, TrainConfig, TtmError, TtmModel, train_for_repo};
pub use record::PrRecord;
