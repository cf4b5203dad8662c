//! `readinessindicatorfile`: ADD waits, bounded, for the default network to say it is ready.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::spec::CniError;

/// How often the file is looked for while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Returns once `file` exists; code 11 (try again later) if it still does not after `timeout`. A
/// timeout past what the clock can represent waits until the file appears (or the runtime gives up).
pub fn wait_for(file: &Path, timeout: Duration) -> Result<(), CniError> {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        if file.exists() {
            return Ok(());
        }
        let now = Instant::now();
        let Some(deadline) = deadline else {
            sleep(POLL_INTERVAL);
            continue;
        };
        if now >= deadline {
            return Err(CniError::try_again_later(format!(
                "readinessindicatorfile: {} does not exist after {:.1}s; the default network is not ready",
                file.display(),
                timeout.as_secs_f64()
            )));
        }
        sleep(POLL_INTERVAL.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_file_that_appears() {
        let path = std::env::temp_dir().join(format!("multus-ready-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                sleep(Duration::from_millis(250));
                std::fs::write(path, "").unwrap();
            })
        };
        wait_for(&path, Duration::from_secs(10)).unwrap();
        writer.join().unwrap();
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_timeout_past_the_clock_still_finds_the_file() {
        let path = std::env::temp_dir().join(format!("multus-ready-max-{}", std::process::id()));
        std::fs::write(&path, "").unwrap();
        wait_for(&path, Duration::MAX).unwrap();
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn gives_up_with_code_11() {
        let err =
            wait_for(Path::new("/nonexistent/ready"), Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.code, CniError::TRY_AGAIN_LATER);
        assert!(err
            .msg
            .starts_with("readinessindicatorfile: /nonexistent/ready does not exist after 0.2s"));
    }
}
