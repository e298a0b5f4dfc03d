//! The SHA-256 digests a key is stored under, remembered per thread.
//!
//! Every proxied request hashes its `Helicone-Auth` key and its provider
//! credential (to refuse a heliport key sent to a provider): three SHA-256
//! digests, about 10,000 instructions a request on a CPU without SHA
//! instructions (bench/PROFILE.md section 16). The same few keys come again
//! and again, so each thread keeps the digests of the keys it saw last in a
//! direct-mapped table of fixed size.
//!
//! A slot is found and checked by a tag of 127 bits: two SipHash-1-3 hashes
//! of the key under the thread's random keys (std's `RandomState`), never by
//! the key itself. No plaintext key outlives its request, and without the
//! thread's hash keys nobody can make two keys share a tag.
//!
//! What the table keeps are unsalted digests, of heliport keys and of the
//! provider credentials checked against them, for as long as the thread
//! runs and its slot is not taken by another key: for keys of high entropy
//! they reveal nothing, but they are in the process's memory (a core dump)
//! as the key cache's own digests are.

use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};

use crate::keys::{digest_key, digest_key_helicone};

/// A key's SHA-256 digest.
pub type Digest = [u8; 32];

/// The two forms a key's hash is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDigests {
    /// SHA-256 of the key: how heliport stores keys.
    pub heliport: Digest,
    /// SHA-256 of `Bearer <key>`: how Helicone stored them (imported keys).
    pub helicone: Digest,
}

/// The digests of `key`, computed once per thread while the key is among the
/// ones it saw last.
pub fn key_digests(key: &str) -> KeyDigests {
    MEMO.try_with(|memo| match memo.try_borrow_mut() {
        Ok(mut memo) => memo.get(key),
        // Only reachable by re-entry, which nothing here does.
        Err(_) => compute(key),
    })
    // The thread is ending: its table is gone.
    .unwrap_or_else(|_| compute(key))
}

fn compute(key: &str) -> KeyDigests {
    KeyDigests {
        heliport: digest_key(key),
        helicone: digest_key_helicone(key),
    }
}

/// Memory each thread's table may use.
const MEMO_BYTES: usize = 40 << 10;
const SLOTS: usize = MEMO_BYTES / std::mem::size_of::<Slot>();
// Room for a few hundred keys, within the budget.
const _: () = assert!(SLOTS >= 256 && SLOTS * std::mem::size_of::<Slot>() <= MEMO_BYTES);

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::new());
}

#[derive(Clone, Copy)]
struct Slot {
    /// The key's keyed hash, its lowest bit set; 0 marks an empty slot.
    tag: u128,
    digests: KeyDigests,
}

struct Memo {
    seeds: (RandomState, RandomState),
    /// Allocated on first use: most threads never see a key.
    slots: Vec<Slot>,
}

impl Memo {
    fn new() -> Memo {
        Memo {
            seeds: (RandomState::new(), RandomState::new()),
            slots: Vec::new(),
        }
    }

    fn get(&mut self, key: &str) -> KeyDigests {
        let high = self.seeds.0.hash_one(key);
        let low = self.seeds.1.hash_one(key);
        let tag = ((u128::from(high) << 64) | u128::from(low)) | 1;
        if self.slots.is_empty() {
            self.slots = vec![
                Slot {
                    tag: 0,
                    digests: KeyDigests {
                        heliport: [0; 32],
                        helicone: [0; 32],
                    },
                };
                SLOTS
            ];
        }
        let index = (high % SLOTS as u64) as usize;
        let Some(slot) = self.slots.get_mut(index) else {
            return compute(key);
        };
        if slot.tag != tag {
            *slot = Slot {
                tag,
                digests: compute(key),
            };
        }
        slot.digests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_digests_are_the_keys_own() {
        let keys: Vec<String> = (0..SLOTS * 3).map(|i| format!("sk-key-{i}")).collect();
        // Twice over more keys than there are slots: every answer, first
        // computed or remembered, is that key's.
        for _ in 0..2 {
            for k in &keys {
                assert_eq!(key_digests(k), compute(k), "{k}");
            }
        }
        assert_eq!(
            key_digests("abc").heliport,
            digest_key("abc"),
            "SHA-256 of the key"
        );
        assert_ne!(key_digests("abc").helicone, key_digests("abc").heliport);
    }
}
