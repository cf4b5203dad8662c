//! `multus`: the meta plugin. One runtime call creates several pod interfaces by running other CNI
//! plugins ("delegates"); only the master delegate's result goes back to the runtime.
//!
//! - ADD resolves every delegate's interface name (master: CNI_IFNAME; others: `if0name`, `interface`
//!   or `net<N>`), refuses names already in the pod, writes the cache, runs the delegates in order and,
//!   if one fails, deletes the ones already added (and the failed one) in reverse before reporting it.
//! - DEL needs only the cache: every delegate's DEL in reverse, past errors; the cache goes once all
//!   succeeded (so a retried DEL finishes the job), and with no cache DEL succeeds without doing anything.
//!   A damaged cache is logged and what can still be read of it is deleted (a file that is no record at
//!   all: the configured delegates), so that DEL does not fail forever.
//! - CHECK runs CHECK on every delegate against its cached result; STATUS and GC are forwarded.
//! - ADD, DEL and CHECK of one attachment (container + CNI_IFNAME) hold a lock on its cache entry for
//!   the whole call, so a DEL racing an ADD runs before it or after it, never in the middle. GC also
//!   removes temporary and lock files that killed calls left.

mod config;
mod delegate;
mod kubernetes;
mod readiness;
pub mod selection;
mod state;
pub mod thick;

use std::collections::HashSet;
use std::path::PathBuf;

pub use config::{KubernetesConf, MultusConf};

use delegate::Runner;
use state::{Cache, DelegateRecord, Entry, Record};

use crate::log::Logger;
use crate::spec::{Attachment, Call, CniError, CniResult, Env};

/// Multus's own error code: an interface name it would create already exists in the pod.
pub const ERR_IFNAME_EXISTS: u32 = 100;

/// The multus plugin; all its state is in the configuration and the cache.
#[derive(Debug, Default)]
pub struct Multus;

impl crate::spec::Plugin for Multus {
    fn add(&self, call: &Call) -> Result<CniResult, CniError> {
        let m = MultusConf::parse(&call.conf)?;
        if let Some(file) = &m.readiness_file {
            readiness::wait_for(file, m.readiness_timeout)?;
        }
        let (container_id, ifname, netns) = (
            call.env.container_id()?,
            call.env.ifname()?,
            call.env.netns()?,
        );
        let cache = Cache::new(&m.cni_dir);
        let _lock = cache.lock(container_id, ifname)?;
        let plan = kubernetes::Plan::make(&m, &call.env)?;
        let (delegates, names) = (&plan.delegates, &plan.ifnames);
        let present = crate::netlink::link_names_in(netns).map_err(|e| match e {
            crate::netlink::Error::Netns(e) => CniError::invalid_env("CNI_NETNS", e),
            other => CniError::io(
                format!("cannot list the links in {}", netns.display()),
                other,
            ),
        })?;
        if let Some((i, name)) = names.iter().enumerate().find(|(_, n)| present.contains(n)) {
            return Err(CniError::new(
                ERR_IFNAME_EXISTS,
                format!(
                    "{}: interface {name:?} already exists in {}",
                    delegates[i].label(),
                    netns.display()
                ),
                "nothing was created",
            ));
        }
        let mut record = Record {
            cni_version: call.conf.cni_version,
            network: call.conf.name.clone(),
            container_id: container_id.to_string(),
            ifname: ifname.to_string(),
            netns: Some(netns.to_path_buf()),
            delegates: delegates
                .iter()
                .zip(names)
                .map(|(d, name)| DelegateRecord {
                    index: d.index,
                    source: Some(d.source.clone()),
                    master: d.master,
                    ifname: name.clone(),
                    conf: d.conf.clone(),
                    result: None,
                })
                .collect(),
        };
        // Written before anything exists, so that a DEL after a crash here still knows what to undo.
        cache.save(&record)?;
        let runner = runner(&m, &call.env);
        let rollback = |record: &Record, failed: usize| -> Result<(), CniError> {
            // The failed delegate is deleted too, best-effort: it may have allocated before failing,
            // and a DEL of it that fails (e.g. its binary is missing) is only logged. The cache stays
            // only if a delegate that was added could not be deleted, so that the runtime's DEL retries.
            undo(&runner, &record.delegates[failed..=failed], &m.log);
            if undo(&runner, &record.delegates[..failed], &m.log).is_empty() {
                cache.remove(container_id, ifname)?;
            }
            Ok(())
        };
        for (i, d) in delegates.iter().enumerate() {
            m.log.verbose(format_args!(
                "ADD {} as {} in {container_id}",
                d.label(),
                names[i]
            ));
            let outcome = d.add(&runner, &names[i]).map_err(|e| e.context(d.label()));
            let saved = outcome.and_then(|result| {
                record.delegates[i].result = Some(result);
                if i + 1 == delegates.len() {
                    cache.save(&record)?;
                }
                Ok(())
            });
            if let Err(err) = saved {
                m.log.error(format_args!("ADD failed, rolling back: {err}"));
                rollback(&record, i)?;
                return Err(err);
            }
        }
        if let Some(pod) = &plan.pod {
            let reported = pod
                .route_defaults(netns, &record.delegates)
                .and_then(|()| pod.report(&record.delegates));
            if let Err(err) = reported {
                m.log.error(format_args!(
                    "network-status not written, rolling back: {err}"
                ));
                rollback(&record, record.delegates.len() - 1)?;
                return Err(err);
            }
        }
        Ok(record
            .delegates
            .iter()
            .find(|d| d.master)
            .and_then(|d| d.result.clone())
            .expect("the master was added"))
    }

    fn del(&self, call: &Call) -> Result<(), CniError> {
        let m = MultusConf::parse(&call.conf)?;
        let (container_id, ifname) = (call.env.container_id()?, call.env.ifname()?);
        let cache = Cache::new(&m.cni_dir);
        let _lock = cache.lock(container_id, ifname)?;
        let file = cache.path(container_id, ifname);
        let delegates = match cache.load(container_id, ifname)? {
            None => {
                m.log.verbose(format_args!(
                    "DEL {container_id}/{ifname}: no cache, nothing to delete"
                ));
                // A call killed while writing the first cache may have left its temporary file.
                return cache.remove(container_id, ifname);
            }
            Some(Entry::Intact(record)) => record.delegates,
            Some(Entry::Damaged { record, problems }) => {
                for problem in problems {
                    m.log.error(format_args!(
                        "DEL: cache {} is damaged, skipping {problem}",
                        file.display()
                    ));
                }
                record.delegates
            }
            Some(Entry::Unreadable(problem)) => {
                m.log.error(format_args!(
                    "DEL: cache {} is not a record ({problem}); deleting the configured delegates",
                    file.display()
                ));
                configured(&m, ifname)
            }
        };
        let errors = undo(&runner(&m, &call.env), &delegates, &m.log);
        match errors.into_iter().next() {
            None => cache.remove(container_id, ifname),
            Some(first) => Err(first.context("DEL (the cache is kept so that a retry can finish)")),
        }
    }

    fn check(&self, call: &Call) -> Result<(), CniError> {
        let m = MultusConf::parse(&call.conf)?;
        let (container_id, ifname) = (call.env.container_id()?, call.env.ifname()?);
        let cache = Cache::new(&m.cni_dir);
        let _lock = cache.lock(container_id, ifname)?;
        let record = match cache.load(container_id, ifname)? {
            Some(Entry::Intact(record)) => record,
            None => {
                return Err(CniError::new(
                    CniError::UNKNOWN_CONTAINER,
                    format!("no multus attachment {container_id}/{ifname} is cached"),
                    "",
                ))
            }
            Some(Entry::Damaged { problems, .. }) => {
                return Err(damaged(&cache, container_id, ifname, problems.join("; ")))
            }
            Some(Entry::Unreadable(problem)) => {
                return Err(damaged(&cache, container_id, ifname, problem))
            }
        };
        let runner = runner(&m, &call.env);
        for entry in &record.delegates {
            let d = entry.delegate()?;
            let cached = entry.result.as_ref().ok_or_else(|| {
                CniError::new(
                    CniError::UNKNOWN_CONTAINER,
                    format!("{}: ADD did not complete", d.label()),
                    "",
                )
            })?;
            if entry.master {
                if let Some(prev) = call.conf.prev_result()? {
                    if prev != cached.convert_to(prev.cni_version) {
                        return Err(CniError::internal(format!(
                            "prevResult: differs from the cached result of {}",
                            d.label()
                        )));
                    }
                }
            }
            d.check(&runner, &entry.ifname, cached)
                .map_err(|e| e.context(d.label()))?;
        }
        Ok(())
    }

    fn status(&self, call: &Call) -> Result<(), CniError> {
        let m = MultusConf::parse(&call.conf)?;
        if let Some(file) = m.readiness_file.as_ref().filter(|f| !f.exists()) {
            return Err(CniError::new(
                CniError::NOT_AVAILABLE,
                format!("readinessindicatorfile: {} does not exist", file.display()),
                "",
            ));
        }
        let runner = runner(&m, &call.env);
        for d in &m.delegates {
            match d.status(&runner) {
                Err(e) if d.master => return Err(e.context(d.label())),
                Err(e) => m.log.error(format_args!("STATUS of {}: {e}", d.label())),
                Ok(()) => {}
            }
        }
        Ok(())
    }

    fn gc(&self, call: &Call) -> Result<(), CniError> {
        let m = MultusConf::parse(&call.conf)?;
        let valid: HashSet<Attachment> = call.conf.valid_attachments()?.into_iter().collect();
        let cache = Cache::new(&m.cni_dir);
        for removed in cache.sweep()? {
            m.log.verbose(format_args!(
                "GC: removed {}, left by a killed call",
                removed.display()
            ));
        }
        let mut kept = Vec::new();
        let mut errors = Vec::new();
        for (file, entry) in cache.entries()? {
            let record = match entry {
                Entry::Intact(record) => record,
                Entry::Damaged { record, problems } => {
                    for problem in problems {
                        m.log.error(format_args!(
                            "GC: cache {} is damaged, skipping {problem}",
                            file.display()
                        ));
                    }
                    record
                }
                Entry::Unreadable(problem) => {
                    m.log.error(format_args!(
                        "GC: skipping {}, not a record: {problem}",
                        file.display()
                    ));
                    continue;
                }
            };
            if record.network != call.conf.name {
                continue;
            }
            let attachment = Attachment {
                container_id: record.container_id.clone(),
                ifname: record.ifname.clone(),
            };
            if valid.contains(&attachment) {
                kept.push(record);
                continue;
            }
            // An ADD or DEL of it may be running: wait for it, then delete what is cached now.
            let _lock = cache.lock(&record.container_id, &record.ifname)?;
            let record = match cache.load(&record.container_id, &record.ifname)? {
                Some(Entry::Intact(now) | Entry::Damaged { record: now, .. }) => now,
                _ => continue,
            };
            m.log.verbose(format_args!(
                "GC: deleting stale attachment {}/{}",
                record.container_id, record.ifname
            ));
            let env = Env {
                container_id: Some(record.container_id.clone()),
                netns: record.netns.clone(),
                ifname: Some(record.ifname.clone()),
                ..call.env.clone()
            };
            let stale_errors = undo(&runner(&m, &env), &record.delegates, &m.log);
            if stale_errors.is_empty() {
                cache.remove(&record.container_id, &record.ifname)?;
            }
            errors.extend(stale_errors);
        }
        let runner = runner(&m, &call.env);
        for d in &m.delegates {
            // A delegate's attachments are the interfaces it made in the attachments still valid.
            let delegate_valid: Vec<Attachment> = kept
                .iter()
                .flat_map(|r| r.delegates.iter().map(move |e| (r, e)))
                .filter(|(_, e)| e.conf.get("name") == d.conf.get("name"))
                .map(|(r, e)| Attachment {
                    container_id: r.container_id.clone(),
                    ifname: e.ifname.clone(),
                })
                .collect();
            if let Err(e) = d.gc(&runner, &delegate_valid) {
                errors.push(e.context(d.label()));
            }
        }
        errors
            .into_iter()
            .next()
            .map_or(Ok(()), |e| Err(e.context("GC")))
    }
}

/// Delegates run from `binDir` first, then the runtime's `CNI_PATH`.
fn runner(m: &MultusConf, env: &Env) -> Runner {
    let mut dirs: Vec<PathBuf> = vec![m.bin_dir.clone()];
    dirs.extend(env.path.iter().filter(|p| **p != m.bin_dir).cloned());
    Runner {
        dirs,
        env: env.clone(),
    }
}

/// The configured delegates as ADD would have named them (config-file mode; none in Kubernetes mode,
/// where they came from the pod), for a DEL whose cache cannot be read.
fn configured(m: &MultusConf, ifname: &str) -> Vec<DelegateRecord> {
    if m.kubernetes.is_some() {
        return Vec::new();
    }
    let Ok(names) = m.ifnames(ifname) else {
        return Vec::new();
    };
    m.delegates
        .iter()
        .zip(names)
        .map(|(d, name)| DelegateRecord {
            index: d.index,
            source: Some(d.source.clone()),
            master: d.master,
            ifname: name,
            conf: d.conf.clone(),
            result: None,
        })
        .collect()
}

/// CHECK of an attachment whose cache cannot be fully read.
fn damaged(cache: &Cache, container_id: &str, ifname: &str, problem: String) -> CniError {
    CniError::io(
        format!(
            "cniDir: cache {} is damaged",
            cache.path(container_id, ifname).display()
        ),
        problem,
    )
}

/// Runs DEL for `entries` in reverse, past errors; returns every error, each naming its delegate.
fn undo(runner: &Runner, entries: &[DelegateRecord], log: &Logger) -> Vec<CniError> {
    let mut errors = Vec::new();
    for entry in entries.iter().rev() {
        let outcome = entry.delegate().and_then(|d| {
            log.verbose(format_args!("DEL {} as {}", d.label(), entry.ifname));
            d.del(runner, &entry.ifname, entry.result.as_ref())
                .map_err(|e| e.context(d.label()))
        });
        if let Err(e) = outcome {
            log.error(format_args!("DEL failed: {e}"));
            errors.push(e);
        }
    }
    errors
}
