//! Identifier newtypes: a tenant, a subject (patient or resident), a case (a recording), a
//! device and a principal each have their own type, so a function taking several ids cannot be
//! called with two of them swapped (STYLE.md habit 14).
//!
//! Each wraps the id's text as stored; it is bound to a query with `.bind(id.as_str())`. The
//! types say what an id names, not that it exists or that the caller may see it: tenant scoping
//! stays with the queries.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id's text.
            pub fn new(id: impl Into<String>) -> $name {
                $name(id.into())
            }

            /// The id's text, e.g. to bind to a query.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(id.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A tenant (an organisation: a practice, a care home); every person's data is scoped by it.
    TenantId
);
id_type!(
    /// A subject within a tenant: the patient or resident recorded and monitored.
    SubjectId
);
id_type!(
    /// A case: one recording and what was derived from it (analysis, review), within a tenant.
    CaseId
);
id_type!(
    /// A device (a stethoscope, a vital-signs monitor) within a tenant.
    DeviceId
);
id_type!(
    /// A principal: who authenticates (a clinician, a device, an administrator).
    PrincipalId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let t = TenantId::new("t1");
        assert_eq!(t.as_str(), "t1");
        assert_eq!(t.to_string(), "t1");
        assert_eq!(TenantId::from("t1".to_owned()), t);
        assert_eq!(AsRef::<str>::as_ref(&t), "t1");
        assert_eq!(t.into_string(), "t1");
    }
}
