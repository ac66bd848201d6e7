//! Time to merge: features known at prediction time, a calibrated quantile model with a
//! merge-probability classifier, exact Shapley explanations, and a time-ordered evaluation.

pub mod eval;
pub mod features;
pub mod gousios;
pub mod history;
pub mod model;
pub mod record;

pub use features::{TtmFeatures, from_log, to_log};
pub use model::{Explanation, Prediction, Scope, TrainConfig, TtmError, TtmModel, train_for_repo};
pub use record::PrRecord;
