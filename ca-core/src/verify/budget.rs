//! Work limits for path building, so that pathological input ends quickly with an error.

use super::PathError;

/// Work limits for one [`crate::validate_path`] call. Each counter is consumed with
/// `checked_sub`; reaching zero ends validation with [`PathError::BudgetExceeded`].
///
/// The defaults follow rustls-webpki (`verify_cert.rs`: 100 signature checks, 200 000
/// `build_chain` calls, 250 000 name-constraint comparisons), which chose them to bound
/// the cost of adversarial certificate graphs (x509-limbo `pathological::` cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Signature verifications left (certificates and CRLs).
    pub signatures: usize,
    /// Path-building steps left (one per candidate path extension tried).
    pub build_chain_calls: usize,
    /// Name-constraint comparisons left (one per name checked against one subtree).
    pub name_constraint_comparisons: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            signatures: 100,
            build_chain_calls: 200_000,
            name_constraint_comparisons: 250_000,
        }
    }
}

impl Budget {
    pub(crate) fn consume_signature(&mut self) -> Result<(), PathError> {
        self.signatures = self
            .signatures
            .checked_sub(1)
            .ok_or(PathError::BudgetExceeded {
                what: "signature checks",
            })?;
        Ok(())
    }

    pub(crate) fn consume_build_chain_call(&mut self) -> Result<(), PathError> {
        self.build_chain_calls =
            self.build_chain_calls
                .checked_sub(1)
                .ok_or(PathError::BudgetExceeded {
                    what: "build_chain calls",
                })?;
        Ok(())
    }

    pub(crate) fn consume_name_constraint_comparison(&mut self) -> Result<(), PathError> {
        self.name_constraint_comparisons =
            self.name_constraint_comparisons
                .checked_sub(1)
                .ok_or(PathError::BudgetExceeded {
                    what: "name constraint comparisons",
                })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_runs_out() {
        let mut b = Budget {
            signatures: 1,
            build_chain_calls: 1,
            name_constraint_comparisons: 1,
        };
        assert!(b.consume_signature().is_ok());
        assert_eq!(
            b.consume_signature(),
            Err(PathError::BudgetExceeded {
                what: "signature checks"
            })
        );
        assert!(b.consume_build_chain_call().is_ok());
        assert!(b.consume_build_chain_call().is_err());
        assert!(b.consume_name_constraint_comparison().is_ok());
        assert!(b.consume_name_constraint_comparison().is_err());
    }
}
