//! Token usage as heliport records it, normalised across providers.

use serde::{Deserialize, Serialize};

/// Tokens of one request, normalised so every provider reads the same.
///
/// `prompt_tokens` always counts every prompt token, cached ones included
/// (Anthropic reports cache reads and writes beside `input_tokens`; they are
/// added in). `completion_tokens` includes reasoning tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache.
    pub prompt_cache_read_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache.
    pub prompt_cache_write_tokens: u64,
    /// Completion tokens spent on reasoning (already inside `completion_tokens`).
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}
