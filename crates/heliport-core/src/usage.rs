//! Token usage as heliport records it, normalised across providers.

use serde::{Deserialize, Serialize};

/// Tokens (and other billable quantities) of one request, normalised so every
/// provider reads the same.
///
/// `prompt_tokens` always counts every prompt token, cached ones included
/// (Anthropic reports cache reads and writes beside `input_tokens`; they are
/// added in). `completion_tokens` includes reasoning tokens (xAI's chat
/// completions report them beside it; they are added in).
///
/// The breakdowns are parts of the totals they are named after: the cache
/// writes by duration are parts of `prompt_cache_write_tokens`, the prompt
/// modalities parts of `prompt_tokens`, the cached modalities parts of
/// `prompt_cache_read_tokens`, the completion modalities parts of
/// `completion_tokens`. Fields added after the first release default to 0
/// and are left out of the JSON when 0, so spooled records of any version
/// read back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Every prompt token, cached ones included.
    pub prompt_tokens: u64,
    /// Every completion token, reasoning included.
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache.
    pub prompt_cache_read_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache.
    pub prompt_cache_write_tokens: u64,
    /// Completion tokens spent on reasoning (already inside `completion_tokens`).
    pub reasoning_tokens: u64,
    /// Cache writes kept for 5 minutes (Anthropic `ephemeral_5m_input_tokens`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_cache_write_5m_tokens: u64,
    /// Cache writes kept for 1 hour (Anthropic `ephemeral_1h_input_tokens`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_cache_write_1h_tokens: u64,
    /// Prompt tokens of audio input.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_audio_tokens: u64,
    /// Prompt tokens of image (and Gemini document) input.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_image_tokens: u64,
    /// Prompt tokens of video input.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_video_tokens: u64,
    /// Cached prompt tokens of audio.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_cache_read_audio_tokens: u64,
    /// Cached prompt tokens of images (and Gemini documents).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_cache_read_image_tokens: u64,
    /// Cached prompt tokens of video.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prompt_cache_read_video_tokens: u64,
    /// Completion tokens of generated audio.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub completion_audio_tokens: u64,
    /// Completion tokens of generated images (and Gemini documents).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub completion_image_tokens: u64,
    /// Completion tokens of generated video.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub completion_video_tokens: u64,
    /// Web searches run by the provider's server-side tool (Anthropic
    /// `server_tool_use.web_search_requests`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub web_searches: u64,
}

// serde's `skip_serializing_if` hands the field by reference.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_spool_lines_still_read_and_new_fields_stay_out_when_zero() {
        let old = r#"{"prompt_tokens":10,"completion_tokens":5,"prompt_cache_read_tokens":2,"prompt_cache_write_tokens":1,"reasoning_tokens":0}"#;
        let u: Usage = serde_json::from_str(old).unwrap();
        assert_eq!(u.prompt_tokens, 10);
        assert_eq!(u.web_searches, 0);
        assert_eq!(serde_json::to_string(&u).unwrap(), old);
        let with = Usage {
            web_searches: 2,
            ..u
        };
        let back: Usage = serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
    }
}
