//! Ctrl-C: cancels a [`Cancellable`] so that blocking sends, receives and pacing stop
//! cleanly, and the command reports what it did.

use mmsg::Cancellable;

use crate::args::{Context, Fail};

/// Exit status after an interruption (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// A `Cancellable` that Ctrl-C cancels.
pub fn cancel_on_ctrl_c() -> Result<Cancellable, Fail> {
    let cancellable = Cancellable::new();
    let handle = cancellable.clone();
    ctrlc::set_handler(move || handle.cancel()).context(|| "cannot handle Ctrl-C".into())?;
    Ok(cancellable)
}
