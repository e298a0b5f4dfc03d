//! The units genai-prices prices (its `data_units.py`), and which of them
//! heliport measures.
//!
//! A unit is a set of dimensions (family, direction, modality, token type,
//! ...). A unit whose dimensions include another's is a part of it: audio
//! input tokens are part of input tokens, 1-hour cache writes part of cache
//! writes. The reference prices every unit a model has a price for, and
//! charges each the part of its count not claimed by a more specific priced
//! unit; heliport does the same, over the units it can count.

use crate::usage::Usage;

/// An index into [`UNITS`].
pub(crate) type UnitId = u8;

/// One usage unit and the price key that prices it.
#[derive(Debug)]
pub(crate) struct Unit {
    /// The price table field, e.g. `cache_write_1h_mtok`.
    pub(crate) price_key: &'static str,
    /// How many units one price is for (1M tokens, 1K searches, ...).
    pub(crate) per: u64,
    /// One bit per (dimension, value) pair.
    dims: u32,
}

impl Unit {
    /// Whether `other` is a part of this unit (or this unit itself).
    pub(crate) fn contains(&self, other: &Unit) -> bool {
        self.dims & !other.dims == 0
    }

    /// How specific the unit is: a part always has more dimensions than
    /// the units it is part of.
    pub(crate) fn specificity(&self) -> u32 {
        self.dims.count_ones()
    }
}

const F_TOKENS: u32 = 1 << 0;
const F_CHARACTERS: u32 = 1 << 1;
const F_MESSAGES: u32 = 1 << 2;
const F_DURATIONS: u32 = 1 << 3;
const F_PIXELS: u32 = 1 << 4;
const F_DOCUMENT_PAGES: u32 = 1 << 5;
const F_RERANK: u32 = 1 << 6;
const F_TOOL_CALLS: u32 = 1 << 7;
const F_REQUESTS: u32 = 1 << 8;
const INPUT: u32 = 1 << 9;
const OUTPUT: u32 = 1 << 10;
const TEXT: u32 = 1 << 11;
const AUDIO: u32 = 1 << 12;
const IMAGE: u32 = 1 << 13;
const VIDEO: u32 = 1 << 14;
const CACHE_READ: u32 = 1 << 15;
const CACHE_WRITE: u32 = 1 << 16;
const TOOL: u32 = 1 << 17;
const REASONING: u32 = 1 << 18;
const CITATION: u32 = 1 << 19;
const TTL_5M: u32 = 1 << 20;
const TTL_1H: u32 = 1 << 21;
const WEB_SEARCH: u32 = 1 << 22;
const SOCIAL_SEARCH: u32 = 1 << 23;
const STORAGE_SEARCH: u32 = 1 << 24;
const CODE_EXECUTION: u32 = 1 << 25;
const ANNOTATED: u32 = 1 << 26;

/// `_usage_key` is the reference's name for the usage field (kept for
/// reading the registry against its source).
const fn unit(_usage_key: &str, price_key: &'static str, per: u64, dims: u32) -> Unit {
    Unit {
        price_key,
        per,
        dims,
    }
}

/// Number of units in the registry.
pub(crate) const UNIT_COUNT: usize = 59;

/// genai-prices 0.2.3's unit registry, in its order (the order prices are
/// listed in).
pub(crate) const UNITS: [Unit; UNIT_COUNT] = [
    unit("input_tokens", "input_mtok", 1_000_000, F_TOKENS | INPUT),
    unit("output_tokens", "output_mtok", 1_000_000, F_TOKENS | OUTPUT),
    unit(
        "cache_read_tokens",
        "cache_read_mtok",
        1_000_000,
        F_TOKENS | INPUT | CACHE_READ,
    ),
    unit(
        "cache_write_tokens",
        "cache_write_mtok",
        1_000_000,
        F_TOKENS | INPUT | CACHE_WRITE,
    ),
    unit(
        "cache_write_5m_tokens",
        "cache_write_5m_mtok",
        1_000_000,
        F_TOKENS | INPUT | CACHE_WRITE | TTL_5M,
    ),
    unit(
        "cache_write_1h_tokens",
        "cache_write_1h_mtok",
        1_000_000,
        F_TOKENS | INPUT | CACHE_WRITE | TTL_1H,
    ),
    unit(
        "input_text_tokens",
        "input_text_mtok",
        1_000_000,
        F_TOKENS | INPUT | TEXT,
    ),
    unit(
        "output_text_tokens",
        "output_text_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | TEXT,
    ),
    unit(
        "cache_text_read_tokens",
        "cache_text_read_mtok",
        1_000_000,
        F_TOKENS | INPUT | TEXT | CACHE_READ,
    ),
    unit(
        "cache_text_write_tokens",
        "cache_text_write_mtok",
        1_000_000,
        F_TOKENS | INPUT | TEXT | CACHE_WRITE,
    ),
    unit(
        "cache_text_write_5m_tokens",
        "cache_text_write_5m_mtok",
        1_000_000,
        F_TOKENS | INPUT | TEXT | CACHE_WRITE | TTL_5M,
    ),
    unit(
        "cache_text_write_1h_tokens",
        "cache_text_write_1h_mtok",
        1_000_000,
        F_TOKENS | INPUT | TEXT | CACHE_WRITE | TTL_1H,
    ),
    unit(
        "input_audio_tokens",
        "input_audio_mtok",
        1_000_000,
        F_TOKENS | INPUT | AUDIO,
    ),
    unit(
        "output_audio_tokens",
        "output_audio_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | AUDIO,
    ),
    unit(
        "cache_audio_read_tokens",
        "cache_audio_read_mtok",
        1_000_000,
        F_TOKENS | INPUT | AUDIO | CACHE_READ,
    ),
    unit(
        "cache_audio_write_tokens",
        "cache_audio_write_mtok",
        1_000_000,
        F_TOKENS | INPUT | AUDIO | CACHE_WRITE,
    ),
    unit(
        "cache_audio_write_5m_tokens",
        "cache_audio_write_5m_mtok",
        1_000_000,
        F_TOKENS | INPUT | AUDIO | CACHE_WRITE | TTL_5M,
    ),
    unit(
        "cache_audio_write_1h_tokens",
        "cache_audio_write_1h_mtok",
        1_000_000,
        F_TOKENS | INPUT | AUDIO | CACHE_WRITE | TTL_1H,
    ),
    unit(
        "input_image_tokens",
        "input_image_mtok",
        1_000_000,
        F_TOKENS | INPUT | IMAGE,
    ),
    unit(
        "output_image_tokens",
        "output_image_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | IMAGE,
    ),
    unit(
        "cache_image_read_tokens",
        "cache_image_read_mtok",
        1_000_000,
        F_TOKENS | INPUT | IMAGE | CACHE_READ,
    ),
    unit(
        "cache_image_write_tokens",
        "cache_image_write_mtok",
        1_000_000,
        F_TOKENS | INPUT | IMAGE | CACHE_WRITE,
    ),
    unit(
        "cache_image_write_5m_tokens",
        "cache_image_write_5m_mtok",
        1_000_000,
        F_TOKENS | INPUT | IMAGE | CACHE_WRITE | TTL_5M,
    ),
    unit(
        "cache_image_write_1h_tokens",
        "cache_image_write_1h_mtok",
        1_000_000,
        F_TOKENS | INPUT | IMAGE | CACHE_WRITE | TTL_1H,
    ),
    unit(
        "input_video_tokens",
        "input_video_mtok",
        1_000_000,
        F_TOKENS | INPUT | VIDEO,
    ),
    unit(
        "output_video_tokens",
        "output_video_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | VIDEO,
    ),
    unit(
        "cache_video_read_tokens",
        "cache_video_read_mtok",
        1_000_000,
        F_TOKENS | INPUT | VIDEO | CACHE_READ,
    ),
    unit(
        "cache_video_write_tokens",
        "cache_video_write_mtok",
        1_000_000,
        F_TOKENS | INPUT | VIDEO | CACHE_WRITE,
    ),
    unit(
        "cache_video_write_5m_tokens",
        "cache_video_write_5m_mtok",
        1_000_000,
        F_TOKENS | INPUT | VIDEO | CACHE_WRITE | TTL_5M,
    ),
    unit(
        "cache_video_write_1h_tokens",
        "cache_video_write_1h_mtok",
        1_000_000,
        F_TOKENS | INPUT | VIDEO | CACHE_WRITE | TTL_1H,
    ),
    unit(
        "input_tool_tokens",
        "input_tool_mtok",
        1_000_000,
        F_TOKENS | INPUT | TOOL,
    ),
    unit(
        "input_text_tool_tokens",
        "input_text_tool_mtok",
        1_000_000,
        F_TOKENS | INPUT | TEXT | TOOL,
    ),
    unit(
        "input_audio_tool_tokens",
        "input_audio_tool_mtok",
        1_000_000,
        F_TOKENS | INPUT | AUDIO | TOOL,
    ),
    unit(
        "input_image_tool_tokens",
        "input_image_tool_mtok",
        1_000_000,
        F_TOKENS | INPUT | IMAGE | TOOL,
    ),
    unit(
        "input_video_tool_tokens",
        "input_video_tool_mtok",
        1_000_000,
        F_TOKENS | INPUT | VIDEO | TOOL,
    ),
    unit(
        "output_reasoning_tokens",
        "output_reasoning_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | REASONING,
    ),
    unit(
        "output_text_reasoning_tokens",
        "output_text_reasoning_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | TEXT | REASONING,
    ),
    unit(
        "output_audio_reasoning_tokens",
        "output_audio_reasoning_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | AUDIO | REASONING,
    ),
    unit(
        "output_image_reasoning_tokens",
        "output_image_reasoning_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | IMAGE | REASONING,
    ),
    unit(
        "output_video_reasoning_tokens",
        "output_video_reasoning_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | VIDEO | REASONING,
    ),
    unit(
        "output_citation_tokens",
        "output_citation_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | CITATION,
    ),
    unit(
        "output_text_citation_tokens",
        "output_text_citation_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | TEXT | CITATION,
    ),
    unit(
        "output_audio_citation_tokens",
        "output_audio_citation_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | AUDIO | CITATION,
    ),
    unit(
        "output_image_citation_tokens",
        "output_image_citation_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | IMAGE | CITATION,
    ),
    unit(
        "output_video_citation_tokens",
        "output_video_citation_mtok",
        1_000_000,
        F_TOKENS | OUTPUT | VIDEO | CITATION,
    ),
    unit(
        "input_characters",
        "input_mchars",
        1_000_000,
        F_CHARACTERS | INPUT,
    ),
    unit(
        "input_text_messages",
        "input_text_messages_kcount",
        1_000,
        F_MESSAGES | INPUT | TEXT,
    ),
    unit("audio_seconds", "audio_hours", 3_600, F_DURATIONS | AUDIO),
    unit(
        "input_audio_seconds",
        "input_audio_hours",
        3_600,
        F_DURATIONS | INPUT | AUDIO,
    ),
    unit(
        "output_audio_seconds",
        "output_audio_hours",
        3_600,
        F_DURATIONS | OUTPUT | AUDIO,
    ),
    unit(
        "input_pixels",
        "input_gpixels",
        1_000_000_000,
        F_PIXELS | INPUT,
    ),
    unit(
        "input_document_pages",
        "input_document_kpages",
        1_000,
        F_DOCUMENT_PAGES | INPUT,
    ),
    unit(
        "input_annotated_document_pages",
        "input_annotated_document_kpages",
        1_000,
        F_DOCUMENT_PAGES | INPUT | ANNOTATED,
    ),
    unit("rerank_searches", "rerank_searches_kcount", 1_000, F_RERANK),
    unit(
        "web_searches",
        "web_searches_kcount",
        1_000,
        F_TOOL_CALLS | WEB_SEARCH,
    ),
    unit(
        "social_searches",
        "social_searches_kcount",
        1_000,
        F_TOOL_CALLS | SOCIAL_SEARCH,
    ),
    unit(
        "storage_searches",
        "storage_searches_kcount",
        1_000,
        F_TOOL_CALLS | STORAGE_SEARCH,
    ),
    unit(
        "code_executions",
        "code_executions_kcount",
        1_000,
        F_TOOL_CALLS | CODE_EXECUTION,
    ),
    unit("requests", "requests_kcount", 1_000, F_REQUESTS),
];

pub(crate) const INPUT_TOKENS: UnitId = 0;
pub(crate) const OUTPUT_TOKENS: UnitId = 1;
pub(crate) const CACHE_READ_TOKENS: UnitId = 2;
pub(crate) const CACHE_WRITE_TOKENS: UnitId = 3;
const CACHE_WRITE_5M_TOKENS: UnitId = 4;
const CACHE_WRITE_1H_TOKENS: UnitId = 5;
const INPUT_AUDIO_TOKENS: UnitId = 12;
const OUTPUT_AUDIO_TOKENS: UnitId = 13;
const CACHE_AUDIO_READ_TOKENS: UnitId = 14;
const INPUT_IMAGE_TOKENS: UnitId = 18;
const OUTPUT_IMAGE_TOKENS: UnitId = 19;
const CACHE_IMAGE_READ_TOKENS: UnitId = 20;
const INPUT_VIDEO_TOKENS: UnitId = 24;
const OUTPUT_VIDEO_TOKENS: UnitId = 25;
const CACHE_VIDEO_READ_TOKENS: UnitId = 26;
const OUTPUT_REASONING_TOKENS: UnitId = 35;
const WEB_SEARCHES: UnitId = 54;
pub(crate) const REQUESTS: UnitId = 58;

/// The unit `id` names.
pub(crate) fn get(id: UnitId) -> Option<&'static Unit> {
    UNITS.get(usize::from(id))
}

/// The unit priced by `price_key`.
pub(crate) fn by_price_key(price_key: &str) -> Option<UnitId> {
    UNITS
        .iter()
        .position(|u| u.price_key == price_key)
        .and_then(|i| UnitId::try_from(i).ok())
}

/// How much of unit `id` the request used, or `None` when heliport does not
/// measure that unit (audio seconds, characters, pages, ...). Text tokens
/// and tool-prompt tokens are not measured either: no price in the table
/// singles them out, so they are charged with the tokens they are part of.
pub(crate) fn measure(id: UnitId, u: &Usage) -> Option<u64> {
    Some(match id {
        INPUT_TOKENS => u.prompt_tokens,
        OUTPUT_TOKENS => u.completion_tokens,
        CACHE_READ_TOKENS => u.prompt_cache_read_tokens,
        CACHE_WRITE_TOKENS => u.prompt_cache_write_tokens,
        CACHE_WRITE_5M_TOKENS => u.prompt_cache_write_5m_tokens,
        CACHE_WRITE_1H_TOKENS => u.prompt_cache_write_1h_tokens,
        INPUT_AUDIO_TOKENS => u.prompt_audio_tokens,
        OUTPUT_AUDIO_TOKENS => u.completion_audio_tokens,
        CACHE_AUDIO_READ_TOKENS => u.prompt_cache_read_audio_tokens,
        INPUT_IMAGE_TOKENS => u.prompt_image_tokens,
        OUTPUT_IMAGE_TOKENS => u.completion_image_tokens,
        CACHE_IMAGE_READ_TOKENS => u.prompt_cache_read_image_tokens,
        INPUT_VIDEO_TOKENS => u.prompt_video_tokens,
        OUTPUT_VIDEO_TOKENS => u.completion_video_tokens,
        CACHE_VIDEO_READ_TOKENS => u.prompt_cache_read_video_tokens,
        OUTPUT_REASONING_TOKENS => u.reasoning_tokens,
        WEB_SEARCHES => u.web_searches,
        // Every request is one request.
        REQUESTS => 1,
        _ => return None,
    })
}

/// Whether heliport measures unit `id`.
pub(crate) fn is_measured(id: UnitId) -> bool {
    measure(id, &Usage::default()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_units_point_at_the_right_entries() {
        let named = [
            (INPUT_TOKENS, "input_mtok"),
            (OUTPUT_TOKENS, "output_mtok"),
            (CACHE_READ_TOKENS, "cache_read_mtok"),
            (CACHE_WRITE_TOKENS, "cache_write_mtok"),
            (CACHE_WRITE_5M_TOKENS, "cache_write_5m_mtok"),
            (CACHE_WRITE_1H_TOKENS, "cache_write_1h_mtok"),
            (INPUT_AUDIO_TOKENS, "input_audio_mtok"),
            (OUTPUT_AUDIO_TOKENS, "output_audio_mtok"),
            (CACHE_AUDIO_READ_TOKENS, "cache_audio_read_mtok"),
            (INPUT_IMAGE_TOKENS, "input_image_mtok"),
            (OUTPUT_IMAGE_TOKENS, "output_image_mtok"),
            (CACHE_IMAGE_READ_TOKENS, "cache_image_read_mtok"),
            (INPUT_VIDEO_TOKENS, "input_video_mtok"),
            (OUTPUT_VIDEO_TOKENS, "output_video_mtok"),
            (CACHE_VIDEO_READ_TOKENS, "cache_video_read_mtok"),
            (OUTPUT_REASONING_TOKENS, "output_reasoning_mtok"),
            (WEB_SEARCHES, "web_searches_kcount"),
            (REQUESTS, "requests_kcount"),
        ];
        for (id, key) in named {
            assert_eq!(get(id).unwrap().price_key, key);
            assert!(is_measured(id), "{key}");
        }
        let measured = (0..UNIT_COUNT as u8).filter(|i| is_measured(*i)).count();
        assert_eq!(measured, named.len());
    }

    #[test]
    fn measured_units_are_priced_per_divisors_of_a_million() {
        // The cost accumulator is in 1e-18 USD per million units.
        for (i, u) in UNITS.iter().enumerate() {
            if is_measured(i as u8) {
                assert_eq!(1_000_000 % u.per, 0, "{}", u.price_key);
            }
        }
    }

    #[test]
    fn parts_and_wholes() {
        let u = |k: &str| get(by_price_key(k).unwrap()).unwrap();
        assert!(u("input_mtok").contains(u("cache_write_1h_mtok")));
        assert!(u("cache_write_mtok").contains(u("cache_write_1h_mtok")));
        assert!(u("input_mtok").contains(u("cache_audio_read_mtok")));
        assert!(u("input_audio_mtok").contains(u("cache_audio_read_mtok")));
        assert!(!u("cache_read_mtok").contains(u("input_audio_mtok")));
        assert!(!u("input_mtok").contains(u("output_mtok")));
        assert!(!u("input_mtok").contains(u("web_searches_kcount")));
        assert!(u("output_mtok").specificity() < u("output_reasoning_mtok").specificity());
    }
}
