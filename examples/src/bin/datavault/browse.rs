//! `datavault browse` and `datavault restore-file`: placeholders until they land.

use crate::common::Failure;

/// `datavault browse DATASET@SNAP [PATH]`
pub fn browse(_args: &[String]) -> Result<(), Failure> {
    Err(Failure::Usage("browse is not implemented yet".into()))
}

/// `datavault restore-file DATASET@SNAP PATH [--to DEST]`
pub fn restore_file(_args: &[String]) -> Result<(), Failure> {
    Err(Failure::Usage("restore-file is not implemented yet".into()))
}
