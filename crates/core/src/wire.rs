//! Closed sets of values that travel as fixed strings (event fields, error
//! codes, rule sources): [`wire_enum!`] defines each one from a single table
//! of variant ↔ string, so the Rust name, its wire string, its parser and its
//! serde form cannot disagree.

/// Defines a fieldless enum whose values serialise to the given strings.
///
/// Generates: the enum (`Debug, Clone, Copy, PartialEq, Eq, Hash`), `ALL` (every
/// value in declaration order), `as_str`, `parse` (exact match), `Display`,
/// `PartialEq<str>` / `PartialEq<&str>` (so a test can still say `kind == "trust"`),
/// and `Serialize` / `Deserialize` as the string (an unknown string is refused and
/// the error lists the known ones).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// Parses the name on the wire (exact, case-sensitive).
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| ::serde::de::Error::unknown_variant(&s, &[$($text),+]))
            }
        }
    };
}

pub(crate) use wire_enum;

#[cfg(test)]
pub(crate) mod tests {
    /// Checks that every value of a wire enum serialises to its `as_str` and
    /// parses back, and that an unknown string is refused.
    pub(crate) fn round_trips<T>(all: &[T], as_str: fn(&T) -> &'static str, documented: &[&str])
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let names: Vec<&str> = all.iter().map(as_str).collect();
        assert_eq!(names, documented, "the documented strings, in order");
        for v in all {
            let json = serde_json::to_string(v).expect("serialises");
            assert_eq!(json, format!("\"{}\"", as_str(v)));
            let back: T = serde_json::from_str(&json).expect("parses");
            assert_eq!(&back, v);
        }
        assert!(serde_json::from_str::<T>("\"no_such_value\"").is_err());
    }
}
