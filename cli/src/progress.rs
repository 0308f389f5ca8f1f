//! Progress bars on stderr (drawn only when stderr is a terminal).

use indicatif::{ProgressBar, ProgressStyle};

fn styled(bar: ProgressBar, template: &str) -> ProgressBar {
    match ProgressStyle::with_template(template) {
        Ok(style) => bar.with_style(style.progress_chars("=> ")),
        Err(_) => bar,
    }
}

/// A bar counting `len` items.
pub fn items(len: u64, prefix: &str, unit: &str) -> ProgressBar {
    let template = format!(
        "{{prefix}} [{{bar:40}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, {{eta}} left) {{msg}}"
    );
    styled(ProgressBar::new(len), &template).with_prefix(prefix.to_string())
}

/// A bar counting `len` bytes.
pub fn bytes(len: u64, prefix: &str) -> ProgressBar {
    styled(
        ProgressBar::new(len),
        "{prefix} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}",
    )
    .with_prefix(prefix.to_string())
}

/// A spinner counting items with no known end.
pub fn open_ended(prefix: &str, unit: &str) -> ProgressBar {
    let template = format!("{{prefix}} {{spinner}} {{human_pos}} {unit} ({{per_sec}}) {{msg}}");
    styled(ProgressBar::new_spinner(), &template).with_prefix(prefix.to_string())
}
