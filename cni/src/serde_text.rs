//! Serde for values whose JSON form is their text form (MAC and PCI addresses, CIDRs): written with
//! `Display`, read back from a string with `FromStr`, whose error message becomes the serde error.

/// Implements `Serialize` (through `Display`) and `Deserialize` (a string, through `FromStr`) for each
/// type listed.
macro_rules! serde_as_text {
    ($($ty:ty),+ $(,)?) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <String as serde::Deserialize>::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    )+};
}

pub(crate) use serde_as_text;

#[cfg(test)]
mod tests {
    use serde_json::{from_value, json, to_value};

    use crate::netlink::MacAddr;
    use crate::spec::Cidr;
    use crate::sysfs::PciAddr;

    #[test]
    fn round_trips_as_the_text_form() {
        let mac: MacAddr = from_value(json!("0A:1b:2c:3d:4e:5F")).unwrap();
        assert_eq!(to_value(mac).unwrap(), json!("0a:1b:2c:3d:4e:5f"));
        let pci: PciAddr = from_value(json!("0000:AF:1F.7")).unwrap();
        assert_eq!(to_value(pci).unwrap(), json!("0000:af:1f.7"));
        let cidr: Cidr = from_value(json!("fd00::5/64")).unwrap();
        assert_eq!(to_value(cidr).unwrap(), json!("fd00::5/64"));
    }

    #[test]
    fn a_bad_string_fails_with_the_parse_message_and_a_non_string_with_serdes() {
        let err = from_value::<Cidr>(json!("10.0.0.1/33")).unwrap_err();
        assert_eq!(err.to_string(), "prefix length 33 exceeds 32");
        let err = from_value::<PciAddr>(json!("03:10.1")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("\"03:10.1\" is not a PCI address"),
            "{err}"
        );
        let err = from_value::<MacAddr>(json!(5)).unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }
}
