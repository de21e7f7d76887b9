//! Store metadata: small named values kept with the CA's state.

use crate::error::Result;

/// Settings kept with the store (`base_url`, markers of one-time upgrades).
pub trait MetaStore: Send {
    /// A metadata value (e.g. `base_url`).
    fn meta(&self, key: &str) -> Result<Option<String>>;

    /// Sets a metadata value.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
}
