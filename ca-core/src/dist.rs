//! Where each key generation of a CA publishes its revocation lists: the one place that names
//! the URLs of cRLDistributionPoints (RFC 5280 §4.2.1.13) and issuingDistributionPoint
//! (§5.2.5), and the file names under `crl/` and `arl/` that `serve` and `publish` use.
//!
//! | generation | CRL | ARL |
//! |---|---|---|
//! | 1 | `BASE/crl/NAME.crl` | `BASE/arl/NAME.crl` |
//! | N ≥ 2 | `BASE/crl/NAME.gN.crl` | `BASE/arl/NAME.gN.crl` |
//!
//! A certificate names the list of the key that signed it, so a relying party always finds a
//! CRL signed by its issuer's key, with that key's AKI (RFC 5280 §6.3.3 (f): the CRL issuer's
//! key must be the certificate issuer's). Generation 1 keeps the URL lgpki used before
//! generations existed, so certificates issued then stay right. CA names are ASCII letters,
//! digits, '-' and '_' ([`crate::Authority::create_ca`]): a name never holds a '.', so
//! `NAME.gN` never reads as another CA's name (`a-b.g2` is generation 2 of `a-b`, and no CA can
//! be called `a-b.g2`). Each generation has exactly one URL: `NAME.g1.crl` is no name.

/// A CA key generation's revocation list, as its URL or file name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPoint<'a> {
    /// The CA's name.
    pub ca: &'a str,
    /// The key generation that signs the list (1 for the first key).
    pub generation: u32,
}

impl<'a> ListPoint<'a> {
    /// The list of generation `generation` of CA `ca`.
    pub fn new(ca: &'a str, generation: u32) -> ListPoint<'a> {
        ListPoint { ca, generation }
    }

    /// The file name under `crl/` or `arl/`: `NAME.crl` for generation 1, `NAME.gN.crl` after.
    pub fn file_name(&self) -> String {
        if self.generation <= 1 {
            format!("{}.crl", self.ca)
        } else {
            format!("{}.g{}.crl", self.ca, self.generation)
        }
    }

    /// Reads a file name made by [`ListPoint::file_name`]; `None` for anything else (no
    /// `.crl`, a generation with a leading zero or below 2, an empty name).
    pub fn parse(file: &'a str) -> Option<ListPoint<'a>> {
        let stem = file.strip_suffix(".crl")?;
        let (ca, generation) = match stem.rsplit_once(".g") {
            Some((ca, g)) => {
                let digits_only = !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
                if !digits_only || g.starts_with('0') {
                    return None;
                }
                let n: u32 = g.parse().ok()?;
                if n < 2 {
                    return None;
                }
                (ca, n)
            }
            None => (stem, 1),
        };
        (!ca.is_empty() && !ca.contains(['.', '/'])).then_some(ListPoint { ca, generation })
    }

    /// The CRL's URL (the cRLDistributionPoints of what this generation signs).
    pub fn crl_url(&self, base: &str) -> String {
        format!("{base}/crl/{}", self.file_name())
    }

    /// The ARL's URL.
    pub fn arl_url(&self, base: &str) -> String {
        format!("{base}/arl/{}", self.file_name())
    }
}

#[cfg(test)]
mod tests {
    use super::ListPoint;

    #[test]
    fn file_names_round_trip_and_never_collide() {
        for (ca, g, file) in [
            ("organization", 1, "organization.crl"),
            ("organization", 2, "organization.g2.crl"),
            ("application-mail", 12, "application-mail.g12.crl"),
            ("a-g2", 1, "a-g2.crl"),
            ("a_b", 3, "a_b.g3.crl"),
        ] {
            let p = ListPoint::new(ca, g);
            assert_eq!(p.file_name(), file);
            assert_eq!(ListPoint::parse(file), Some(p));
        }
        assert_eq!(
            ListPoint::new("root", 2).crl_url("http://x"),
            "http://x/crl/root.g2.crl"
        );
        assert_eq!(
            ListPoint::new("root", 1).arl_url("http://x"),
            "http://x/arl/root.crl"
        );
        for bad in [
            "root",
            "root.g1.crl",
            "root.g0.crl",
            "root.g02.crl",
            "root.g.crl",
            "root.gx.crl",
            ".crl",
            ".g2.crl",
            "a.b.crl",
            "a.b.g2.crl",
            "root.g2.crl.crl",
            "root.g99999999999.crl",
        ] {
            assert_eq!(ListPoint::parse(bad), None, "{bad}");
        }
    }
}
