//! Undo steps collected while an ADD progresses, run newest first if it fails.

use crate::log::Logger;

type Step<'a> = Box<dyn FnOnce() -> Result<(), String> + 'a>;

/// A stack of undo steps. Dropping it without [`Rollback::commit`] runs them.
pub struct Rollback<'a> {
    steps: Vec<(String, Step<'a>)>,
    log: &'a Logger,
}

impl<'a> Rollback<'a> {
    /// An empty stack that reports undo failures to `log`.
    pub fn new(log: &'a Logger) -> Self {
        Rollback {
            steps: Vec::new(),
            log,
        }
    }

    /// Registers how to undo the step just done, described by `what`.
    pub fn push(
        &mut self,
        what: impl Into<String>,
        undo: impl FnOnce() -> Result<(), String> + 'a,
    ) {
        self.steps.push((what.into(), Box::new(undo)));
    }

    /// Keeps everything: the ADD succeeded.
    pub fn commit(mut self) {
        self.steps.clear();
    }
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        while let Some((what, undo)) = self.steps.pop() {
            match undo() {
                Ok(()) => self.log.debug(format!("rolled back: {what}")),
                Err(e) => self.log.error(format!("rollback of {what} failed: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Level;
    use std::cell::RefCell;

    #[test]
    fn runs_undos_newest_first_unless_committed() {
        let log = Logger::new("sriov", Level::Error, None);
        let order = RefCell::new(Vec::new());
        {
            let mut rb = Rollback::new(&log);
            rb.push("one", || {
                order.borrow_mut().push(1);
                Ok(())
            });
            rb.push("two", || Err("failed".into()));
            rb.push("three", || {
                order.borrow_mut().push(3);
                Ok(())
            });
        }
        assert_eq!(*order.borrow(), vec![3, 1]);
        let mut rb = Rollback::new(&log);
        rb.push("four", || {
            order.borrow_mut().push(4);
            Ok(())
        });
        rb.commit();
        assert_eq!(*order.borrow(), vec![3, 1]);
    }
}
