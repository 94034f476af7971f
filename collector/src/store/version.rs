//! The server's version, from `buildInfo`, and what does not work below
//! the floor: percentile measures (`p50` … `p99` in `/v1/query`) use the
//! `$percentile` accumulator, new in MongoDB 7.0. The collector reads the
//! version when it starts and shows it in `/readyz`.

use serde::Serialize;

/// The oldest MongoDB on which everything works (`$percentile`).
pub(crate) const FLOOR: (u64, u64) = (7, 0);

/// The store's version and what it means for the collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ServerVersion {
    /// As `buildInfo` says it (`"7.0.2"`), or `"unknown"`.
    pub(crate) version: String,
    /// What does not work on it, each a sentence saying what to do.
    pub(crate) warnings: Vec<String>,
    /// Whether percentile measures are known not to work.
    #[serde(skip)]
    pub(crate) below_floor: bool,
}

/// How a version compares with [`FLOOR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// At or above the floor.
    Full,
    /// Below it: percentile measures fail.
    BelowFloor,
    /// Not a version this parser reads.
    Unknown,
}

/// Compares `version` (`major.minor[.patch][-suffix]`) with the floor.
pub(crate) fn support(version: &str) -> Support {
    let mut parts = version.trim().split(['.', '-', '+']);
    let number = |p: Option<&str>| {
        p.filter(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u64>().ok())
    };
    let (Some(major), Some(minor)) = (number(parts.next()), number(parts.next())) else {
        return Support::Unknown;
    };
    if (major, minor) >= FLOOR {
        Support::Full
    } else {
        Support::BelowFloor
    }
}

impl ServerVersion {
    /// What `version` (from `buildInfo`) means for the collector.
    pub(crate) fn from_build_info(version: Option<&str>) -> Self {
        let (floor_major, floor_minor) = FLOOR;
        let shown: String = version
            .unwrap_or("unknown")
            .chars()
            .take(64)
            .filter(|c| !c.is_control())
            .collect();
        let (below_floor, warnings) = match version.map(support) {
            Some(Support::Full) => (false, Vec::new()),
            Some(Support::BelowFloor) => (true, vec![format!(
                "MongoDB {shown} is older than {floor_major}.{floor_minor}: percentile measures (p50, p75, p90, p95, p99) of /v1/query need {floor_major}.{floor_minor} ($percentile) and are refused; upgrade the server to {floor_major}.{floor_minor} or later"
            )]),
            _ => (false, vec![format!(
                "the server's version `{shown}` is not one the collector reads: percentile measures of /v1/query need MongoDB {floor_major}.{floor_minor} or later and fail on older servers"
            )]),
        };
        Self {
            version: shown,
            warnings,
            below_floor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_against_the_floor() {
        for (v, want) in [
            ("6.0.14", Support::BelowFloor),
            ("4.4", Support::BelowFloor),
            ("6.3.0-rc2", Support::BelowFloor),
            ("7.0.2", Support::Full),
            ("7.0", Support::Full),
            ("8.0.0-rc1", Support::Full),
            ("8.2.11", Support::Full),
            ("10.0.1+enterprise", Support::Full),
            ("", Support::Unknown),
            ("garbage", Support::Unknown),
            ("7", Support::Unknown),
            ("v7.0.1", Support::Unknown),
            ("7.x", Support::Unknown),
            ("99999999999999999999.0", Support::Unknown),
        ] {
            assert_eq!(support(v), want, "{v}");
        }
    }

    #[test]
    fn warnings_say_what_fails_and_what_to_do() {
        let ok = ServerVersion::from_build_info(Some("7.0.2"));
        assert!(ok.warnings.is_empty() && !ok.below_floor);
        let old = ServerVersion::from_build_info(Some("6.0.14"));
        assert!(old.below_floor);
        assert!(
            old.warnings[0].contains("6.0.14")
                && old.warnings[0].contains("percentile")
                && old.warnings[0].contains("upgrade"),
            "{:?}",
            old.warnings
        );
        let odd = ServerVersion::from_build_info(Some("garbage\n"));
        assert!(!odd.below_floor, "an unknown version is not refused");
        assert_eq!(odd.version, "garbage");
        assert!(odd.warnings[0].contains("`garbage`"));
        let none = ServerVersion::from_build_info(None);
        assert_eq!(none.version, "unknown");
        assert_eq!(none.warnings.len(), 1);
    }
}
