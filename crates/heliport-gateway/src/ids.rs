//! Request and record ids: UUIDv7 drawn from a thread-local generator.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use uuid::Uuid;

/// A UUIDv7 for the current millisecond with 74 random bits.
///
/// `Uuid::now_v7` takes a process-wide lock and asks the kernel for fresh
/// randomness on every call (a `getrandom` system call per id, two ids per
/// request). rand's thread-local ChaCha generator is seeded from the kernel
/// and reseeded as it goes, so the ids stay unguessable without either.
/// Ids from one millisecond are unordered among themselves: records are
/// ordered by their time and sequence number, never by id.
pub(crate) fn new_v7() -> Uuid {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let random: [u8; 10] = rand::rng().random();
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_unique_and_carry_the_time() {
        let a = new_v7();
        let b = new_v7();
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        let (secs, _) = a.get_timestamp().map(|t| t.to_unix()).unwrap_or((0, 0));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        assert!(now.abs_diff(secs) <= 1, "{secs} vs {now}");
    }
}
