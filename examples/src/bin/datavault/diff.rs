//! `datavault diff`: placeholder until the diff command lands.

use crate::common::Failure;

/// `datavault diff DATASET@A DATASET@B|DATASET`
pub fn diff(_args: &[String]) -> Result<(), Failure> {
    Err(Failure::Usage("diff is not implemented yet".into()))
}
