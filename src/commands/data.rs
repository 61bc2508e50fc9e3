//! `pgwarden data generate`: the seed platform's deterministic rows.

use crate::datagen::{self, GenerateReport};
use crate::settings::Settings;

/// `data generate --scale N`.
pub fn generate(settings: &Settings, scale: f64) -> anyhow::Result<GenerateReport> {
    let target = settings.target()?;
    Ok(datagen::generate(&target, scale, settings.progress_bar)?)
}
